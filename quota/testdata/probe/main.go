// Command probe prints quota.ReadLimits as JSON; the Docker round-trip
// test runs it inside a container built FROM scratch.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/tendkit/tend/quota"
)

func main() {
	l, err := quota.ReadLimits("/")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	if l == nil {
		os.Exit(1)
	}
	_ = json.NewEncoder(os.Stdout).Encode(l)
}
