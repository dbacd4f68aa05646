package main

// The runtime image holds the static binary alone: no operating system, so
// no system CA bundle. Mozilla's roots, embedded by this package, are used
// when the system has none, so a grid whose certificate a public CA signed
// verifies as it would on any host; a grid signed by a private CA is
// trusted through its ProviderConfig's CA bundle (docs/install.md).
import _ "golang.org/x/crypto/x509roots/fallback"
