package images

import "fmt"

// KeepReason says, as a code a program can branch on, why a selected image
// stays (Kept.Code); Kept.Reason says it in words.
type KeepReason string

// The reasons an image stays.
const (
	// KeepReasonInUse: a container, running or stopped, uses it.
	KeepReasonInUse KeepReason = "in_use"
	// KeepReasonProtectedTag: one of its tags matches protect_tags.
	KeepReasonProtectedTag KeepReason = "protected_tag"
	// KeepReasonProtectedLabel: it carries one of protect_labels.
	KeepReasonProtectedLabel KeepReason = "protected_label"
	// KeepReasonLatest: among the keep_latest newest of its repository.
	KeepReasonLatest KeepReason = "latest"
	// KeepReasonRecentlyUsed: used within unused_for.
	KeepReasonRecentlyUsed KeepReason = "recently_used"
	// KeepReasonParent: an image built on it (classic builder or commit)
	// stays, and the engine refuses to remove a parent before its children.
	KeepReasonParent KeepReason = "parent"
	// KeepReasonDisk: the disk watermarks are met without removing it.
	KeepReasonDisk KeepReason = "disk"
)

// SkipReason says, as a code, why a planned removal was not made
// (Outcome.Code); Outcome.Note says it in words.
type SkipReason string

// The reasons a planned removal is skipped.
const (
	// SkipReasonInUse: a container was created from it since the plan.
	SkipReasonInUse SkipReason = "in_use"
	// SkipReasonGone: someone else removed it since the plan.
	SkipReasonGone SkipReason = "gone"
	// SkipReasonConflict: the engine refused it (a container or a child
	// image the plan did not know about).
	SkipReasonConflict SkipReason = "conflict"
)

// KeepLatestBy is what "newest" means for Policy.KeepLatest.
type KeepLatestBy string

// The orderings of KeepLatest.
const (
	// KeepLatestByCreated (the default, also ""): newest by build time,
	// as "keep the latest versions" means to users (2.8 over 2.6).
	KeepLatestByCreated KeepLatestBy = "created"
	// KeepLatestByUsed: newest by last use on this host (the 2.6 a stopped
	// container used last week over the 2.8 pulled last month).
	KeepLatestByUsed KeepLatestBy = "used"
)

// Validate reports an unknown ordering.
func (b KeepLatestBy) Validate() error {
	switch b {
	case "", KeepLatestByCreated, KeepLatestByUsed:
		return nil
	}
	return fmt.Errorf("keep_latest_by: %q is not %q or %q", string(b), KeepLatestByCreated, KeepLatestByUsed)
}
