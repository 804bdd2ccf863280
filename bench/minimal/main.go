// Command minimal is the yardstick of bench/load.sh: the least a service can do with an Alertmanager
// webhook and still keep it. An Echo v4 handler decodes the body with encoding/json and writes each
// alert with go-redis v9 as one pipelined XADD (to a stream per alert fingerprint) and one SET NX
// (the group's first-seen marker) per alert. No idempotency, no incident, no timeline, no names
// replaced: postmortemd's requests per second, p99 and Redis memory are reported as ratios to this
// server's in the same run.
//
//	go run ./bench/minimal --listen 127.0.0.1:18081 --redis-url redis://127.0.0.1:6380/0
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
)

// message and alert are the Alertmanager webhook payload (version 4) as a plain decoder sees it.
type message struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   uint64            `json:"truncatedAlerts"`
	Receiver          string            `json:"receiver"`
	Status            string            `json:"status"`
	Alerts            []alert           `json:"alerts"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
}

type alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve HTTP on (loopback by default)")
	redisURL := flag.String("redis-url", "redis://127.0.0.1:6379/0", "Redis to write to")
	prefix := flag.String("prefix", "min", "key prefix")
	flag.Parse()

	opt, err := redis.ParseURL(*redisURL)
	if err != nil {
		fmt.Fprintln(os.Stderr, "minimal:", err)
		os.Exit(2)
	}
	// The same pool size as cmd/postmortemd, so only the handler differs.
	opt.PoolSize = max(64, 10*runtime.GOMAXPROCS(0))
	rdb := redis.NewClient(opt)
	defer rdb.Close()

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.POST("/webhook/alertmanager", func(c echo.Context) error {
		var m message
		if err := json.NewDecoder(c.Request().Body).Decode(&m); err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, err.Error())
		}
		if len(m.Alerts) == 0 {
			return echo.NewHTTPError(http.StatusBadRequest, "no alerts")
		}
		ctx := c.Request().Context()
		pipe := rdb.Pipeline()
		for _, a := range m.Alerts {
			doc, err := json.Marshal(a)
			if err != nil {
				return err
			}
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: *prefix + ":a:" + a.Fingerprint, Values: []any{"a", doc}})
			pipe.SetNX(ctx, *prefix+":g:"+m.GroupKey, a.StartsAt.UnixNano(), 0)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return echo.NewHTTPError(http.StatusServiceUnavailable, err.Error())
		}
		return c.JSON(http.StatusOK, map[string]any{"status": "ok", "alerts": len(m.Alerts)})
	})
	e.GET("/-/healthy", func(c echo.Context) error { return c.NoContent(http.StatusOK) })

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "minimal:", err)
		os.Exit(1)
	}
	// The same server timeouts as cmd/postmortemd.
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
	fmt.Println("minimal listening on", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "minimal:", err)
		os.Exit(1)
	}
}
