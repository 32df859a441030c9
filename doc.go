// Package tend keeps long-running PyTorch/CUDA containers (Jupyter dev
// boxes, training and inference services, shared multi-user GPU servers) able
// to keep running. It is a set of independent packages plus thin adapter
// mains that drop into a Dockerfile, so an image needs no cron, no logrotate
// and no shell scripts:
//
//   - [github.com/tendkit/tend/cleanup]: the Sweeper deletes old cache and
//     temp files (~/.cache/torch, ~/.cache/huggingface, /tmp,
//     .ipynb_checkpoints) by age and size rules, fd-relative and never
//     following a symlink or crossing a mount.
//   - [github.com/tendkit/tend/rotate]: the Rotator rotates logs written by
//     other processes without logrotate's copytruncate loss window; the
//     Writer is an io.WriteCloser that rotates without stalling writes.
//   - [github.com/tendkit/tend/health]: the Prober proves the GPU, PyTorch
//     and the container's services really work, with a verdict on time.
//   - [github.com/tendkit/tend/quota]: a QuotaSpec describes a container's
//     share of a host once, is checked before anything runs, and renders
//     docker arguments, compose files and Kubernetes resources.
//   - [github.com/tendkit/tend/images]: the ImagePruner removes unused
//     images by last use, knowing exactly which bytes it frees.
//
// The adapters tend-cron (scheduler, one-shot run and entrypoint wrapper),
// tend-health (Docker HEALTHCHECK and Kubernetes probe) and tend-compose
// (docker args, compose files, k8s resources) live under adapters/. The
// packages import none of each other; the adapters wire them together.
package tend
