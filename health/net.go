package health

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
	"slices"
	"strings"
	"time"
)

// TCP checks that something accepts connections on Addr ("host:port").
type TCP struct {
	// Label names the check (default: the address).
	Label string
	Addr  string
}

// Name is "tcp LABEL".
func (c *TCP) Name() string { return "tcp " + or(c.Label, c.Addr) }

// Check dials Addr once.
func (c *TCP) Check(ctx context.Context) Result {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return failf("bad address %q: %v", c.Addr, err)
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", c.Addr)
	if err != nil {
		return failf("connect %s: %v", c.Addr, dialError(err))
	}
	conn.Close()
	return passf("%s accepts connections", c.Addr)
}

// SSH checks that an SSH server answers on Addr with its identification
// line ("SSH-2.0-OpenSSH_9.2p1 ..."); RFC 4253 allows other lines before it,
// which are skipped. An open port that does not speak SSH fails.
type SSH struct {
	Label string
	Addr  string
}

// Name is "ssh LABEL".
func (c *SSH) Name() string { return "ssh " + or(c.Label, c.Addr) }

// maxBannerLines and maxBannerBytes bound what is read before the
// identification line.
const (
	maxBannerLines = 20
	maxBannerBytes = 8192
)

// Check connects and reads the banner.
func (c *SSH) Check(ctx context.Context) Result {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return failf("bad address %q: %v", c.Addr, err)
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", c.Addr)
	if err != nil {
		return failf("connect %s: %v", c.Addr, dialError(err))
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	capped := &io.LimitedReader{R: conn, N: maxBannerBytes}
	r := bufio.NewReaderSize(capped, 512)
	first := ""
	for range maxBannerLines {
		line, err := r.ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(line, "SSH-") {
			if !strings.HasPrefix(line, "SSH-2.0-") && !strings.HasPrefix(line, "SSH-1.99-") {
				return failf("%s speaks an unsupported SSH version: %q", c.Addr, cut(line, 80))
			}
			return passf("%s", cut(line, 120)).with(map[string]any{"banner": line})
		}
		if first == "" && strings.TrimSpace(line) != "" {
			first = line
		}
		if err != nil {
			why := dialError(err).Error()
			switch {
			case errors.Is(err, io.EOF) && capped.N <= 0:
				why = fmt.Sprintf("stopped reading after %d bytes", maxBannerBytes)
			case errors.Is(err, io.EOF):
				why = "connection closed"
			}
			if first != "" {
				return failf("%s sent no SSH-2.0- banner (%s), only %q", c.Addr, why, cut(first, 80))
			}
			return failf("%s sent no SSH-2.0- banner: %s", c.Addr, why)
		}
	}
	return failf("%s sent %d lines and no SSH-2.0- banner", c.Addr, maxBannerLines)
}

// HTTP checks that a GET of URL answers with one of the Expect statuses
// (default: any 2xx). Token, when set, is sent as "Authorization: token
// TOKEN", which is how Jupyter's /api/status is reached.
type HTTP struct {
	Label  string
	URL    string
	Token  string
	Expect []int
	// Client is the HTTP client (nil = a client that does not reuse
	// connections and does not follow redirects).
	Client *http.Client
}

// Name is "http LABEL".
func (c *HTTP) Name() string {
	if c.Label != "" {
		return "http " + c.Label
	}
	if u, err := url.Parse(c.URL); err == nil {
		return "http " + redact(u)
	}
	return "http " + RedactSecrets(c.URL)
}

// Check sends one GET and reads at most 64 KiB of the body.
func (c *HTTP) Check(ctx context.Context) Result {
	u, err := url.Parse(c.URL)
	if err != nil {
		return failf("bad URL: %v", RedactSecrets(err.Error()))
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return failf("bad URL %q: want http://host[:port]/path or https://...", redact(u))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL, nil)
	if err != nil {
		return failf("bad URL %q: %v", redact(u), RedactSecrets(err.Error()))
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "token "+c.Token)
	}
	client := c.Client
	if client == nil {
		client = &http.Client{
			Transport:     &http.Transport{DisableKeepAlives: true, Proxy: nil},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error repeats the whole URL, user info and query included:
		// keep only its cause, and never the token.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		msg := dialError(err).Error()
		if c.Token != "" {
			msg = strings.ReplaceAll(msg, c.Token, Redacted)
		}
		return failf("GET %s: %s", redact(u), msg)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	d := map[string]any{"status": resp.StatusCode}
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if len(c.Expect) > 0 {
		ok = slices.Contains(c.Expect, resp.StatusCode)
	}
	if !ok {
		hint := ""
		if resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized {
			hint = " (is the token right?)"
		}
		return failf("GET %s: status %d, want %s%s", redact(u), resp.StatusCode, wantStatus(c.Expect), hint).with(d)
	}
	return passf("GET %s: status %d", redact(u), resp.StatusCode).with(d)
}

func wantStatus(expect []int) string {
	if len(expect) == 0 {
		return "2xx"
	}
	s := make([]string, len(expect))
	for i, e := range expect {
		s[i] = fmt.Sprint(e)
	}
	return strings.Join(s, " or ")
}

// redact drops credentials and the query (which may carry ?token=) from u.
func redact(u *url.URL) string {
	v := *u
	v.User = nil
	v.RawQuery = ""
	return v.String()
}

// dialError shortens the net package's nested errors to their cause.
func dialError(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		err = oe.Err
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err
	}
	return err
}

func or[T comparable](a, b T) T {
	var zero T
	if a != zero {
		return a
	}
	return b
}
