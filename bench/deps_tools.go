//go:build tools

package bench

// Pins the peer modules the comparisons use until they import them.
import _ "gopkg.in/natefinch/lumberjack.v2"

import _ "github.com/tendkit/tend/internal/units"
