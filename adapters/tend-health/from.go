package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
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
	shown := *u
	shown.User, shown.RawQuery = nil, ""
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		fmt.Fprintf(stderr, "tend-health: --from: %v\n", health.RedactSecrets(err.Error()))
		return exitUnhealthy
	}
	if opts.common.JSON {
		req.Header.Set("Accept", "application/json")
	}
	client := &http.Client{
		Transport:     &http.Transport{DisableKeepAlives: true, Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s", opts.timeout)
		}
		fmt.Fprintf(stdout, "fail resident: ask %s: %s (is tend-health --serve running there?)\nunhealthy (%s %s)\n",
			shown.String(), health.RedactSecrets(err.Error()), opts.profile, units.Round(time.Since(start)))
		return exitUnhealthy
	}
	defer resp.Body.Close()
	io.Copy(stdout, io.LimitReader(resp.Body, fromBodyLimit))
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode != http.StatusServiceUnavailable {
			fmt.Fprintf(stdout, "unhealthy: %s answered %s\n", shown.String(), resp.Status)
		}
		return exitUnhealthy
	}
	return exitHealthy
}
