//go:build tools

// This file pins the modules the packages are being built on, so go.sum is
// complete while they land in parallel. It is removed once they import them.
package internal

import (
	_ "github.com/NVIDIA/go-nvml/pkg/nvml"
	_ "github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	_ "github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	_ "github.com/compose-spec/compose-go/v2/loader"
	_ "github.com/compose-spec/compose-go/v2/types"
	_ "github.com/hashicorp/go-multierror"
	_ "github.com/klauspost/compress/gzip"
	_ "github.com/klauspost/compress/zstd"
	_ "github.com/moby/moby/api/types/image"
	_ "github.com/moby/moby/client"
	_ "github.com/robfig/cron/v3"
	_ "github.com/stretchr/testify/assert"
	_ "github.com/stretchr/testify/require"
	_ "go.yaml.in/yaml/v4"
	_ "golang.org/x/sys/unix"
)
