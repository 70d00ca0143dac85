package chunkenc

import "testing"

// TestAllocSizeIsTheAllocatorsClass checks the size-class table against
// the runtime: a buffer grown to allocSize(n) must use all the memory the
// allocator gives it, and no class may be skipped.
func TestAllocSizeIsTheAllocatorsClass(t *testing.T) {
	var sizes []int
	for n := 1; n <= 4096; n++ {
		sizes = append(sizes, n)
	}
	for _, c := range allocClasses {
		sizes = append(sizes, int(c)-1, int(c), int(c)+1)
	}
	sizes = append(sizes, 40000, 65536, 65537, 100000)
	for _, n := range sizes {
		got := allocSize(n)
		// append to an empty slice rounds the capacity up to the class
		want := cap(append([]byte(nil), make([]byte, n)...))
		if got != want {
			t.Fatalf("allocSize(%d) = %d, the allocator gives %d", n, got, want)
		}
	}
}
