package ui

import (
	"encoding/json"
	"fmt"
	"io"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/storage"
)

// WindowFile, in the app's storage (beside Fyne's preferences.json), keeps
// the window's size and place. It is written at once: Fyne saves the last
// preference changes about 100 ms later, from a queue the process may not
// live to run when it quits, and a position saved at quit was lost so.
const WindowFile = "window.json"

// Geometry is the content of WindowFile.
type Geometry struct {
	Width  float32 `json:"width"`
	Height float32 `json:"height"`
	// X and Y are the window's corner as the Placer counts it, when Placed.
	X      int  `json:"x"`
	Y      int  `json:"y"`
	Placed bool `json:"placed"`
}

// Smallest window the console restores, so a bad file cannot hide it.
const minWindowWidth, minWindowHeight = 640, 420

// loadGeometry reads WindowFile, or the size from the preferences of an
// older console, or the defaults.
func (c *Console) loadGeometry() Geometry {
	p := c.app.Preferences()
	g := Geometry{Width: float32(p.FloatWithFallback(PrefWindowWidth, 1180)),
		Height: float32(p.FloatWithFallback(PrefWindowHeight, 760))}
	u, err := storage.Child(c.app.Storage().RootURI(), WindowFile)
	if err != nil {
		return g
	}
	r, err := storage.Reader(u)
	if err != nil {
		return g // first start
	}
	defer r.Close()
	var saved Geometry
	if err := json.NewDecoder(io.LimitReader(r, 4<<10)).Decode(&saved); err != nil {
		c.logger.Warn("ignoring the saved window place", "file", u.Path(), "err", err)
		return g
	}
	return saved
}

// writeGeometry replaces WindowFile.
func (c *Console) writeGeometry(g Geometry) error {
	u, err := storage.Child(c.app.Storage().RootURI(), WindowFile)
	if err != nil {
		return fmt.Errorf("window file: %w", err)
	}
	w, err := storage.Writer(u)
	if err != nil {
		return fmt.Errorf("open %s: %w", u.Path(), err)
	}
	if err := json.NewEncoder(w).Encode(g); err != nil {
		w.Close()
		return fmt.Errorf("write %s: %w", u.Path(), err)
	}
	return w.Close()
}

// restoreSize gives the window the size it had last time.
func (c *Console) restoreSize() {
	g := c.loadGeometry()
	c.win.Resize(fyne.NewSize(max(g.Width, minWindowWidth), max(g.Height, minWindowHeight)))
}

// restorePosition puts the window where it was last time, once, after
// its first Show: the window system has no window to move before. Fyne
// itself keeps the position from a hide to the next show.
func (c *Console) restorePosition() {
	if c.placed || c.placer == nil {
		return
	}
	c.placed = true
	g := c.loadGeometry()
	if !g.Placed {
		return
	}
	if err := c.placer.Move(c.win, g.X, g.Y); err != nil {
		c.logger.Warn("cannot put the window where it was", "x", g.X, "y", g.Y, "err", err)
	}
}

// saveGeometry remembers the window's size and, while it is on screen
// and a Placer can tell, its position, for the next start.
func (c *Console) saveGeometry() {
	if c.win == nil {
		return
	}
	g := c.loadGeometry()
	if s := c.win.Canvas().Size(); s.Width >= 100 && s.Height >= 100 {
		g.Width, g.Height = s.Width, s.Height
	}
	if c.visible && c.placer != nil {
		if x, y, ok := c.placer.Position(c.win); ok {
			g.X, g.Y, g.Placed = x, y, true
		}
	}
	if err := c.writeGeometry(g); err != nil {
		c.logger.Warn("cannot remember the window's size and place", "err", err)
	}
}
