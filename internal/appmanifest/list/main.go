// Command list prints, one per line, "APP FUNCTION MAIN" for every function
// the applications' manifests declare (or only those of the applications
// named as arguments). `make lambdas` builds what it prints. Run it from the
// repository root.
package main

import (
	"fmt"
	"os"

	"github.com/plba/plba/internal/appmanifest"
)

func main() {
	apps, err := appmanifest.List(".")
	if err == nil && len(os.Args) > 1 {
		apps = apps[:0]
		for _, name := range os.Args[1:] {
			a, ferr := appmanifest.Find(".", name)
			if ferr != nil {
				err = ferr
				break
			}
			apps = append(apps, a)
		}
	}
	if err == nil && len(apps) == 0 {
		err = fmt.Errorf("no apps/*/%s found (run from the repository root)", appmanifest.File)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "list:", err)
		os.Exit(1)
	}
	for _, a := range apps {
		for _, fn := range appmanifest.Functions {
			fmt.Println(a.Name, fn, a.Mains[fn])
		}
	}
}
