// Package fuzz holds the fuzz targets of the receiver's webhooks. They live apart from the
// receiver's own tests, which link all of Alertmanager to prove compatibility: instrumented for
// fuzzing, that binary is too large to fuzz at a useful rate. The targets go through the exported
// API only (receiver.New and the Handler's Echo handlers), as a sender's delivery does.
package fuzz
