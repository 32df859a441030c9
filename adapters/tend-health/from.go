package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/tendkit/tend/health"
	"github.com/tendkit/tend/units"
)

// fromBodyLimit bounds what --from reads of an answer.
const fromBodyLimit = 64 << 10

// askResident answers a probe from a resident tend-health: GET
// URL/livez|readyz|startupz, print the body, exit 0 on 200 and 1 on
// anything else, including no answer within --timeout.
//
// A HEALTHCHECK pays for every millisecond of this, so a plain http URL
// (the usual 127.0.0.1:PORT) is asked over one TCP connection, the
// request written by http.Request.Write and the answer read by
// http.ReadResponse: no
// http.Transport (its connection pool, goroutines and HTTP/2 set-up cost
// about a millisecond). https, or user info to send as basic auth, go
// through http.Client.
func askResident(ctx context.Context, opts options, stdout, stderr io.Writer) int {
	u, err := url.Parse(opts.from)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "tend-health: --from %q: want http://host:port of a tend-health --serve\n", health.RedactSecrets(opts.from))
		return exitUnhealthy
	}
	path := "/readyz"
	for p, prof := range health.ProfilePaths {
		if prof == opts.profile {
			path = p
		}
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawPath = ""
	shown := *u
	shown.User, shown.RawQuery = nil, ""
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	start := time.Now()
	ask := askHTTPClient
	if u.Scheme == "http" && u.User == nil {
		ask = askPlain
	}
	resp, err := ask(ctx, u, opts.common.JSON)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
			err = fmt.Errorf("no answer within %s", opts.timeout)
		}
		fmt.Fprintf(stdout, "fail resident: ask %s: %s (is tend-health --serve running there?)\nunhealthy (%s %s)\n",
			shown.String(), health.RedactSecrets(err.Error()), opts.profile, units.Round(time.Since(start)))
		return exitUnhealthy
	}
	defer resp.Body.Close()
	if _, err := io.Copy(stdout, io.LimitReader(resp.Body, fromBodyLimit)); err != nil && resp.StatusCode == http.StatusOK {
		fmt.Fprintf(stdout, "unhealthy: %s: the answer broke off: %s\n", shown.String(), health.RedactSecrets(err.Error()))
		return exitUnhealthy
	}
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode != http.StatusServiceUnavailable {
			fmt.Fprintf(stdout, "unhealthy: %s answered %s\n", shown.String(), resp.Status)
		}
		return exitUnhealthy
	}
	return exitHealthy
}

// askPlain sends GET u over one TCP connection (net/http writes the
// request, asking to close the connection after it), and returns the
// answer, whose Body closes the connection. ctx bounds the dial, the
// request and reading the answer.
func askPlain(ctx context.Context, u *url.URL, asJSON bool) (*http.Response, error) {
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	accept := "text/plain"
	if asJSON {
		accept = "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		stop()
		conn.Close()
		return nil, err
	}
	req.Header.Set("User-Agent", "tend-health")
	req.Header.Set("Accept", accept)
	req.Close = true // the answer ends with the connection
	if err := req.Write(conn); err != nil {
		stop()
		conn.Close()
		return nil, ctxErr(ctx, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		stop()
		conn.Close()
		return nil, ctxErr(ctx, fmt.Errorf("read the answer: %w", err))
	}
	resp.Body = &connBody{ReadCloser: resp.Body, conn: conn, stop: stop}
	return resp, nil
}

// ctxErr prefers ctx's error to err once ctx has ended (a closed
// connection then means the deadline, not a server that hung up).
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// connBody closes the connection with the body.
type connBody struct {
	io.ReadCloser
	conn net.Conn
	stop func() bool
}

func (b *connBody) Close() error {
	b.stop()
	b.ReadCloser.Close()
	return b.conn.Close()
}

// askHTTPClient asks through net/http's client: https, or user info sent
// as basic auth. Redirects are not followed.
func askHTTPClient(ctx context.Context, u *url.URL, asJSON bool) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if asJSON {
		req.Header.Set("Accept", "application/json")
	}
	client := &http.Client{
		Transport:     &http.Transport{DisableKeepAlives: true, Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return client.Do(req)
}
