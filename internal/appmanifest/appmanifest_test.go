package appmanifest_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plba/plba/internal/appmanifest"
)

func TestListReadsTheRepositorysApps(t *testing.T) {
	apps, err := appmanifest.List("../..")
	if err != nil {
		t.Fatal(err)
	}
	var bot *appmanifest.App
	for i, a := range apps {
		if a.Name == "mailorderbot" {
			bot = &apps[i]
		}
		for fn, main := range a.Mains {
			if _, err := os.Stat(filepath.Join("../..", main, "main.go")); err != nil {
				t.Errorf("%s %s: main %s: %v", a.Name, fn, main, err)
			}
		}
	}
	if bot == nil || bot.Mains["worker"] != "./functions/worker" {
		t.Fatalf("apps %+v: want the bot with ./functions/worker", apps)
	}
	if _, err := appmanifest.Find("../..", "nosuch"); !errors.Is(err, appmanifest.ErrInvalid) || !strings.Contains(err.Error(), "mailorderbot") {
		t.Errorf("Find(nosuch) = %v", err)
	}
}

func TestReadRejects(t *testing.T) {
	cases := map[string]string{
		"missing control": "name: x\nfunctions:\n  poller: {main: ./p}\n  worker: {main: ./w}\n",
		"bad main":        "name: x\nfunctions:\n  poller: {main: p}\n  worker: {main: ./w}\n  control: {main: ./c}\n",
		"unknown kind":    "name: x\nfunctions:\n  poller: {main: ./p}\n  worker: {main: ./w}\n  control: {main: ./c}\n  webhook: {main: ./h}\n",
		"name":            "name: y\nfunctions:\n  poller: {main: ./p}\n  worker: {main: ./w}\n  control: {main: ./c}\n",
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "x")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, appmanifest.File), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := appmanifest.Read(dir); !errors.Is(err, appmanifest.ErrInvalid) {
				t.Errorf("err = %v", err)
			}
		})
	}
}
