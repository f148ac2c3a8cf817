//go:build !unix

package mailauth

import "os"

// Without flock the file store relies on the re-read before and after a
// refresh (see TokenSource) alone.
func tryLock(*os.File) (bool, error) { return true, nil }

func unlock(*os.File) {}
