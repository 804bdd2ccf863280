-- wrk script for bench/load.sh: GET the URL given (a timeline) and report like the others.
dofile("bench/report.lua")
