package units_test

import (
	"fmt"

	"github.com/tendkit/tend/units"
)

func Example() {
	mem, err := units.ParseSize("6g")
	if err != nil {
		panic(err)
	}
	age, _ := units.ParseDuration("1w2d")
	warn, _ := units.ParsePercent("85%")
	fmt.Println(mem, mem.Bytes(), units.Size(1500*units.MiB).Human())
	fmt.Println(units.FormatDuration(age), age)
	fmt.Println(warn, warn.Of(int64(mem)) == int64(mem)*85/100)
	// Output:
	// 6GiB 6442450944 1.5GiB
	// 1w2d 216h0m0s
	// 85% true
}
