//go:build linux && !headless && !wayland

package main

/*
#cgo LDFLAGS: -lX11
#include <stdlib.h>
#include <X11/Xlib.h>

// esmon_ignore keeps a failed request (a window that went away) from
// ending the process, which is Xlib's default. It is installed only
// around esmon's own calls, and the previous handler (GLFW's, or none)
// put back, on the UI thread where GLFW makes its calls too.
static int esmon_ignore(Display *d, XErrorEvent *e) { return 0; }

// esmon_position is the top-left corner of win's content on its root
// window; 0 when win is not mapped.
static int esmon_position(Display *d, Window win, int *x, int *y) {
	XWindowAttributes wa;
	Window child;
	int ok = 0;
	XErrorHandler old = XSetErrorHandler(esmon_ignore);
	if (XGetWindowAttributes(d, win, &wa) && wa.map_state == IsViewable)
		ok = XTranslateCoordinates(d, win, wa.root, 0, 0, x, y, &child);
	XSync(d, False);
	XSetErrorHandler(old);
	return ok;
}

// esmon_move puts win's corner at (x, y), kept margin pixels on its
// screen; 0 when win is gone.
static int esmon_move(Display *d, Window win, int x, int y, int margin) {
	XWindowAttributes wa, ra;
	int ok = 0;
	XErrorHandler old = XSetErrorHandler(esmon_ignore);
	if (XGetWindowAttributes(d, win, &wa) && XGetWindowAttributes(d, wa.root, &ra)) {
		if (x > ra.width - margin) x = ra.width - margin;
		if (y > ra.height - margin) y = ra.height - margin;
		if (x < 0) x = 0;
		if (y < 0) y = 0;
		XMoveWindow(d, win, x, y);
		ok = 1;
	}
	XSync(d, False);
	XSetErrorHandler(old);
	return ok;
}
*/
import "C"

import (
	"errors"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver"

	"esmon/ui"
)

// x11Placer reads and sets the console window's position through Xlib on
// a connection of its own, by the window id GLFW gives Fyne. GLFW marks
// its windows with StaticGravity, so a move places the content's corner
// (not the frame's) where asked, under a window manager or none, and the
// position read back is that same corner: no drift by the frame from one
// start to the next.
type x11Placer struct{}

var _ ui.Placer = x11Placer{}

// newPlacer is the X11 Placer.
func newPlacer() ui.Placer { return x11Placer{} }

// onScreen is how much of the window must stay visible when it is put
// back on a screen that shrank since.
const onScreen = 80

// errNoWindow is the answer for a window that is not an X11 window (yet).
var errNoWindow = errors.New("no X11 window")

// withWindow runs f with a display connection and w's X11 window.
func withWindow(w fyne.Window, f func(d *C.Display, win C.Window) error) error {
	nw, ok := w.(driver.NativeWindow)
	if !ok {
		return errNoWindow
	}
	var handle uintptr
	nw.RunNative(func(ctx any) {
		if x, ok := ctx.(driver.X11WindowContext); ok {
			handle = x.WindowHandle
		}
	})
	if handle == 0 {
		return errNoWindow
	}
	d := C.XOpenDisplay(nil)
	if d == nil {
		return errors.New("open the X display")
	}
	defer C.XCloseDisplay(d)
	return f(d, C.Window(handle))
}

// Position implements ui.Placer.
func (x11Placer) Position(w fyne.Window) (x, y int, ok bool) {
	err := withWindow(w, func(d *C.Display, win C.Window) error {
		var cx, cy C.int
		if C.esmon_position(d, win, &cx, &cy) == 0 {
			return errNoWindow
		}
		x, y = int(cx), int(cy)
		return nil
	})
	return x, y, err == nil
}

// Move implements ui.Placer.
func (x11Placer) Move(w fyne.Window, x, y int) error {
	return withWindow(w, func(d *C.Display, win C.Window) error {
		if C.esmon_move(d, win, C.int(x), C.int(y), onScreen) == 0 {
			return errNoWindow
		}
		return nil
	})
}
