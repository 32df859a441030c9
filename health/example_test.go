package health_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/tendkit/tend/health"
)

// A readiness probe of a disk and a TCP service, as tend-health runs it.
func ExampleProber() {
	l, _ := net.Listen("tcp", "127.0.0.1:0") // stands in for Jupyter
	defer l.Close()
	p := &health.Prober{
		Timeout: 5 * time.Second,
		Checks: []health.Check{
			&health.Disk{Path: "/"},
			health.Configured{Inner: &health.TCP{Label: "jupyter", Addr: l.Addr().String()}, Timeout: time.Second},
			&health.TCP{Label: "gone", Addr: "127.0.0.1:1"},
		},
	}
	r := p.Run(context.Background(), health.ProfileReadiness)
	for _, res := range r.Results {
		fmt.Println(res.Name, res.Status)
	}
	fmt.Println("healthy:", r.Healthy())
	// Output:
	// disk / pass
	// tcp jupyter pass
	// tcp gone fail
	// healthy: false
}

// A resident monitor: the checks run on their intervals, and /readyz
// answers from the last report at once.
func ExampleMonitor() {
	m := &health.Monitor{
		Prober:            &health.Prober{Checks: []health.Check{&health.Disk{Path: "/"}}, Timeout: 5 * time.Second},
		ReadinessInterval: 10 * time.Second,
	}
	if err := m.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	srv := httptest.NewServer(m) // serves /livez, /readyz, /startupz
	defer srv.Close()
	for !m.Verdict(health.ProfileReadiness).Healthy {
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output: 200
}
