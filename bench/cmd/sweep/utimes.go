package main

import (
	"syscall"
	"unsafe"
)

// utimesNoFollow sets the times of a symlink itself (utimensat with
// AT_SYMLINK_NOFOLLOW), without golang.org/x/sys in this module.
func utimesNoFollow(p string, ts []syscall.Timespec) error {
	b, err := syscall.BytePtrFromString(p)
	if err != nil {
		return err
	}
	atFDCWD, noFollow := -100, 0x100
	_, _, e := syscall.Syscall6(syscall.SYS_UTIMENSAT, uintptr(atFDCWD), uintptr(unsafe.Pointer(b)), uintptr(unsafe.Pointer(&ts[0])), uintptr(noFollow), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
