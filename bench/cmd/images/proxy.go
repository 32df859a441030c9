package main

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
)

// countingProxy is a unix socket in front of the Docker socket that counts
// the HTTP requests going through it, so that peers (the docker CLI,
// docker-py) are counted the way tend's own client counts itself.
type countingProxy struct {
	path     string
	l        net.Listener
	requests atomic.Int64
	wg       sync.WaitGroup
}

var requestLine = regexp.MustCompile(`(?m)^(GET|HEAD|POST|PUT|DELETE) /\S* HTTP/1\.[01]\r$`)

func newCountingProxy(dir, target string) (*countingProxy, error) {
	p := &countingProxy{path: filepath.Join(dir, "count.sock")}
	os.Remove(p.path)
	l, err := net.Listen("unix", p.path)
	if err != nil {
		return nil, err
	}
	p.l = l
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("unix", target)
			if err != nil {
				c.Close()
				continue
			}
			p.wg.Go(func() { p.count(up, c); up.Close() })
			p.wg.Go(func() { io.Copy(c, up); c.Close() })
		}
	}()
	return p, nil
}

// count copies the client's bytes to the engine, counting request lines
// (a line split across reads is counted from the joined tail).
func (p *countingProxy) count(dst io.Writer, src io.Reader) {
	buf := make([]byte, 64<<10)
	var tail []byte
	for {
		n, err := src.Read(buf)
		if n > 0 {
			chunk := append(tail, buf[:n]...)
			last := bytes.LastIndexByte(chunk, '\n')
			if last >= 0 {
				p.requests.Add(int64(len(requestLine.FindAllIndex(chunk[:last+1], -1))))
				tail = append([]byte(nil), chunk[last+1:]...)
			} else {
				tail = chunk
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *countingProxy) host() string { return "unix://" + p.path }

func (p *countingProxy) Close() { p.l.Close() }
