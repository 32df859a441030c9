package health

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	return addr
}

// bannerServer accepts connections and writes banner to each.
func bannerServer(t *testing.T, banner string) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.Write([]byte(banner))
				time.Sleep(2 * time.Second)
			}()
		}
	}()
	return l.Addr().String()
}

func TestTCP(t *testing.T) {
	open := bannerServer(t, "")
	r := (&TCP{Addr: open}).Check(context.Background())
	assert.Equal(t, StatusPass, r.Status, r.Message)
	r = (&TCP{Addr: closedAddr(t)}).Check(context.Background())
	assert.Equal(t, StatusFail, r.Status)
	assert.Contains(t, r.Message, "connection refused")
	r = (&TCP{Addr: "8888"}).Check(context.Background())
	assert.Equal(t, StatusFail, r.Status)
	assert.Contains(t, r.Message, `bad address "8888"`)
	assert.Equal(t, "tcp jupyter", (&TCP{Label: "jupyter", Addr: open}).Name())
}

func TestSSHBanner(t *testing.T) {
	tests := []struct {
		name, banner string
		status       Status
		msg          string
	}{
		{"plain banner", "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", StatusPass, "SSH-2.0-OpenSSH_9.2p1 Debian-2"},
		{"lines before the banner", "Welcome\r\nauthorised use only\r\nSSH-2.0-dropbear_2022.83\r\n", StatusPass, "SSH-2.0-dropbear"},
		{"not ssh", "HTTP/1.1 400 Bad Request\r\n\r\n", StatusFail, `no SSH-2.0- banner (i/o timeout), only "HTTP/1.1 400 Bad Request"`},
		{"ssh 1", "SSH-1.5-old\r\n", StatusFail, "unsupported SSH version"},
		{"silent", "", StatusFail, "no SSH-2.0- banner: "},
		{"endless line at the read cap", strings.Repeat("x", 20000), StatusFail, `no SSH-2.0- banner (stopped reading after 8192 bytes)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := bannerServer(t, tt.banner)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			r := (&SSH{Addr: addr}).Check(ctx)
			assert.Equal(t, tt.status, r.Status, r.Message)
			assert.Contains(t, r.Message, tt.msg)
		})
	}
	r := (&SSH{Addr: closedAddr(t)}).Check(context.Background())
	assert.Equal(t, StatusFail, r.Status)
	assert.Contains(t, r.Message, "connection refused")
}

func TestHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/api/status" && r.Header.Get("Authorization") != "token secret":
			http.Error(w, "forbidden", http.StatusForbidden)
		case r.URL.Path == "/teapot":
			w.WriteHeader(http.StatusTeapot)
		case r.URL.Path == "/moved":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		default:
			w.Write([]byte(`{"ok":true}`))
		}
	}))
	defer srv.Close()
	tests := []struct {
		name   string
		c      HTTP
		status Status
		msg    string
	}{
		{"token accepted", HTTP{URL: srv.URL + "/api/status", Token: "secret"}, StatusPass, "status 200"},
		{"token missing", HTTP{URL: srv.URL + "/api/status"}, StatusFail, "status 403, want 2xx (is the token right?)"},
		{"token wrong", HTTP{URL: srv.URL + "/api/status?token=leak", Token: "nope"}, StatusFail, "status 403"},
		{"expected status", HTTP{URL: srv.URL + "/teapot", Expect: []int{418}}, StatusPass, "status 418"},
		{"redirects are not followed", HTTP{URL: srv.URL + "/moved"}, StatusFail, "status 302, want 2xx"},
		{"redirect expected", HTTP{URL: srv.URL + "/moved", Expect: []int{301, 302}}, StatusPass, "status 302"},
		{"unexpected status", HTTP{URL: srv.URL + "/", Expect: []int{204}}, StatusFail, "want 204"},
		{"no scheme", HTTP{URL: "127.0.0.1:8888/api"}, StatusFail, `bad URL: parse "127.0.0.1:8888/api"`},
		{"refused", HTTP{URL: "http://" + closedAddr(t) + "/"}, StatusFail, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.c.Check(context.Background())
			assert.Equal(t, tt.status, r.Status, r.Message)
			assert.Contains(t, r.Message, tt.msg)
			assert.NotContains(t, r.Message, "leak", "the query may hold a token")
		})
	}
}

func TestHTTPHonoursTheDeadline(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	r := (&HTTP{URL: srv.URL}).Check(ctx)
	assert.Equal(t, StatusFail, r.Status)
	assert.Contains(t, r.Message, "deadline exceeded")
}
