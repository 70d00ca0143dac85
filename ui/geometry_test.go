package ui

import (
	"errors"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/test"
)

// fakePlacer stands in for the window system: where the window is, and
// where the console last moved it.
type fakePlacer struct {
	at    [2]int
	shown bool
	moves [][2]int
}

func (p *fakePlacer) Position(fyne.Window) (int, int, bool) { return p.at[0], p.at[1], p.shown }
func (p *fakePlacer) Move(_ fyne.Window, x, y int) error {
	if !p.shown {
		return errors.New("no window")
	}
	p.moves = append(p.moves, [2]int{x, y})
	return nil
}

// TestGeometryKept closes the window of one console and starts another
// on the same app storage, as a restart does: the second gets the size
// and place the first had; a damaged file leaves the defaults.
func TestGeometryKept(t *testing.T) {
	for _, tc := range []struct {
		name      string
		damage    bool
		size      fyne.Size
		at        [2]int
		wantSize  fyne.Size
		wantMoves [][2]int
	}{
		{name: "moved and resized", size: fyne.NewSize(900, 600), at: [2]int{40, 30},
			wantSize: fyne.NewSize(900, 600), wantMoves: [][2]int{{40, 30}}},
		{name: "too small to use", size: fyne.NewSize(300, 200), at: [2]int{0, 0},
			wantSize: fyne.NewSize(minWindowWidth, minWindowHeight), wantMoves: [][2]int{{0, 0}}},
		{name: "damaged file", damage: true, size: fyne.NewSize(900, 600), at: [2]int{40, 30},
			wantSize: fyne.NewSize(1180, 760)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := test.NewTempApp(t)
			first := startPlaced(t, a, &fakePlacer{shown: true, at: tc.at})
			first.win.Resize(tc.size)
			first.closeWindow()
			if tc.damage {
				u, _ := storage.Child(a.Storage().RootURI(), WindowFile)
				w, err := storage.Writer(u)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = w.Write([]byte("{not json"))
				w.Close()
			}

			p := &fakePlacer{shown: true}
			second := startPlaced(t, a, p)
			if got := second.win.Canvas().Size(); got != tc.wantSize {
				t.Errorf("size = %v, want %v", got, tc.wantSize)
			}
			if len(p.moves) != len(tc.wantMoves) || (len(p.moves) > 0 && p.moves[0] != tc.wantMoves[0]) {
				t.Errorf("moves = %v, want %v", p.moves, tc.wantMoves)
			}
		})
	}
}

// startPlaced starts a console with a placer on app a and shows it.
func startPlaced(t *testing.T, a fyne.App, p Placer) *console {
	t.Helper()
	ta := &trayApp{App: a}
	con := &console{Console: NewConsole(ta, quietLogger()), app: ta, loop: newUILoop(), client: newFakeClient()}
	con.SetPlacer(p)
	con.onUI = con.loop.do
	con.setTooltip = func(string) {}
	con.client.feed()
	stop := con.Start(t.Context(), con.client)
	t.Cleanup(func() {
		close(con.loop.quit)
		stop()
	})
	con.show()
	return con
}
