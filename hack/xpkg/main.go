// Command xpkg builds provider-ipam's three Crossplane packages into a
// directory (`make xpkg`: _output/xpkg), one file per package and platform
// for the provider and the function, one for the configuration; see
// internal/xpkg for the format and docs/install.md for pushing them.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/provider-ipam/provider-ipam/internal/testenv"
	"github.com/provider-ipam/provider-ipam/internal/xpkg"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "xpkg:", err)
		os.Exit(1)
	}
}

func run() error {
	root, err := testenv.Root()
	if err != nil {
		return err
	}
	var (
		out     = flag.String("out", filepath.Join(root, "_output", "xpkg"), "Directory the package files are written to.")
		version = flag.String("version", "v0.1.0", "Version of the packages, in their file names and the tags they are pushed with.")
		crank   = flag.String("crank", filepath.Join(root, "bin", "crank"), "The crank binary (cluster/local/tool.sh crank builds it).")
	)
	flag.Parse()
	artifacts, err := xpkg.Build(context.Background(), xpkg.Options{Root: root, Out: *out, Version: *version, Crank: *crank})
	if err != nil {
		return err
	}
	for _, a := range artifacts {
		for _, f := range a.Paths() {
			fmt.Println(f)
		}
	}
	return nil
}
