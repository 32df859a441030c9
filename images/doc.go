// Package images plans and prunes Docker images (ImagePruner) behind a
// small Engine interface, counting the exact bytes freed from the layer graph
// and never removing an image a container uses.
package images
