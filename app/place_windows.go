//go:build !headless

package main

import (
	"errors"
	"fmt"
	"unsafe"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver"
	"golang.org/x/sys/windows"

	"esmon/ui"
)

// user32's window calls, which golang.org/x/sys/windows does not wrap.
var (
	user32           = windows.NewLazySystemDLL("user32.dll")
	procGetWindowRct = user32.NewProc("GetWindowRect")
	procSetWindowPos = user32.NewProc("SetWindowPos")
	procMonitorFromP = user32.NewProc("MonitorFromPoint")
	procGetMonInfo   = user32.NewProc("GetMonitorInfoW")
	procIsVisible    = user32.NewProc("IsWindowVisible")
)

// SetWindowPos and MonitorFromPoint flags.
const (
	swpNoSize         = 0x0001
	swpNoZOrder       = 0x0004
	swpNoActivate     = 0x0010
	monitorDefNearest = 0x00000002
)

// monitorInfo is MONITORINFO.
type monitorInfo struct {
	Size    uint32
	Monitor windows.Rect
	Work    windows.Rect
	Flags   uint32
}

// winPlacer reads and sets the console window's position by its HWND,
// which GLFW gives Fyne: the outer rectangle, frame included, the way
// Windows itself keeps a window's place.
type winPlacer struct{}

var _ ui.Placer = winPlacer{}

// newPlacer is the Windows Placer.
func newPlacer() ui.Placer { return winPlacer{} }

// onScreen is how much of the window must stay visible when it is put
// back on a monitor that is smaller, or gone, since.
const onScreen = 80

var errNoWindow = errors.New("no Win32 window")

func hwndOf(w fyne.Window) uintptr {
	nw, ok := w.(driver.NativeWindow)
	if !ok {
		return 0
	}
	var h uintptr
	nw.RunNative(func(ctx any) {
		if c, ok := ctx.(driver.WindowsWindowContext); ok {
			h = c.HWND
		}
	})
	return h
}

// Position implements ui.Placer.
func (winPlacer) Position(w fyne.Window) (x, y int, ok bool) {
	h := hwndOf(w)
	if h == 0 {
		return 0, 0, false
	}
	if v, _, _ := procIsVisible.Call(h); v == 0 {
		return 0, 0, false
	}
	var r windows.Rect
	if res, _, _ := procGetWindowRct.Call(h, uintptr(unsafe.Pointer(&r))); res == 0 {
		return 0, 0, false
	}
	return int(r.Left), int(r.Top), true
}

// Move implements ui.Placer; it keeps the window on the work area of the
// monitor nearest to (x, y), so a monitor unplugged since does not leave
// it out of sight.
func (winPlacer) Move(w fyne.Window, x, y int) error {
	h := hwndOf(w)
	if h == 0 {
		return errNoWindow
	}
	// POINT by value: both int32s in one register on amd64 and arm64.
	pt := uintptr(uint32(int32(x))) | uintptr(uint32(int32(y)))<<32
	if m, _, _ := procMonitorFromP.Call(pt, monitorDefNearest); m != 0 {
		mi := monitorInfo{Size: uint32(unsafe.Sizeof(monitorInfo{}))}
		if res, _, _ := procGetMonInfo.Call(m, uintptr(unsafe.Pointer(&mi))); res != 0 {
			x = min(max(x, int(mi.Work.Left)), int(mi.Work.Right)-onScreen)
			y = min(max(y, int(mi.Work.Top)), int(mi.Work.Bottom)-onScreen)
		}
	}
	res, _, err := procSetWindowPos.Call(h, 0, uintptr(x), uintptr(y), 0, 0, swpNoSize|swpNoZOrder|swpNoActivate)
	if res == 0 {
		return fmt.Errorf("SetWindowPos: %w", err)
	}
	return nil
}
