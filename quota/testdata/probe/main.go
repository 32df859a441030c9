// Command probe prints quota.ReadLimits as JSON; the Docker round-trip
// test runs it inside a container built FROM scratch.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/tendkit/tend/quota"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-cat" {
		// The image has no shell: `probe -cat FILE` prints a file.
		data, err := os.ReadFile(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		_, _ = os.Stdout.Write(data)
		return
	}
	l, err := quota.ReadLimits("/")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	if l == nil {
		os.Exit(1)
	}
	_ = json.NewEncoder(os.Stdout).Encode(l)
	if os.Getenv("PROBE_SLEEP") != "" {
		// Stay up for the audit tests (docker stop ends it).
		for {
			time.Sleep(time.Hour)
		}
	}
}
