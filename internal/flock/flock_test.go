package flock

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestClaimIsExclusiveUntilReleased(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	first, err := Claim(path)
	if err != nil {
		t.Fatal(err)
	}
	// A second open file of the same process conflicts as another
	// process's would (flock and LockFileEx lock per open file).
	if f, err := Claim(path); !errors.Is(err, ErrLocked) {
		if f != nil {
			Release(f)
		}
		t.Fatalf("second Claim while held: %v, want ErrLocked", err)
	}
	if err := Release(first); err != nil {
		t.Fatal(err)
	}
	again, err := Claim(path)
	if err != nil {
		t.Fatalf("Claim after Release: %v", err)
	}
	Release(again)
}
