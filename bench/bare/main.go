// Command bare is the baseline of bench/load.sh: an Echo v4 server that reads a webhook's request
// body and answers 200, with nothing else (no decoding, no store, no middleware). postmortemd's
// requests per second are reported as a fraction of this server's on the same machine and run.
//
//	go run ./bench/bare --listen 127.0.0.1:18080
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve HTTP on (loopback by default)")
	flag.Parse()

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	read := func(c echo.Context) error {
		if _, err := io.Copy(io.Discard, c.Request().Body); err != nil {
			return err
		}
		return c.NoContent(http.StatusOK)
	}
	e.POST("/webhook/alertmanager", read)
	e.GET("/-/healthy", func(c echo.Context) error { return c.NoContent(http.StatusOK) })

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bare:", err)
		os.Exit(1)
	}
	// The same server timeouts as cmd/postmortemd, so only the handler differs.
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
	fmt.Println("bare listening on", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "bare:", err)
		os.Exit(1)
	}
}
