// Package conditions bounds the messages of the conditions provider-ipam
// writes. The API server refuses a status whose condition message exceeds
// 32768 bytes (metav1.Condition's limit), so the whole status update fails
// and the user sees nothing; and a message of thousands of addresses, or an
// HTML error page from a backend, helps nobody.
package conditions

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/crossplane/crossplane-runtime/v2/pkg/reconciler/managed"
	"github.com/crossplane/crossplane-runtime/v2/pkg/resource"
)

// MaxMessage is the most bytes of a message Message keeps, before its
// suffix. It leaves room below the API's 32768 for the prefixes
// crossplane-runtime adds to an error.
const MaxMessage = 4096

// Message returns msg, or its first MaxMessage bytes (cut on a UTF-8
// boundary) followed by a suffix saying how many were left out.
func Message(msg string) string { return Cut(msg, MaxMessage) }

// Cut returns s, or its first n bytes (cut on a UTF-8 boundary) followed
// by a suffix saying how many were left out.
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d more bytes not shown)", s[:cut], len(s)-cut)
}

// Error is err with its message bounded by Message. It unwraps to err, so
// errors.Is and errors.As see through it.
type Error struct{ err error }

// Bound returns err with a bounded message, nil for nil.
func Bound(err error) error {
	if err == nil {
		return nil
	}
	return Error{err: err}
}

func (e Error) Error() string { return Message(e.err.Error()) }

// Unwrap returns the bounded error.
func (e Error) Unwrap() error { return e.err }

// Connector bounds the errors of c and of the clients it connects: the
// managed reconciler writes them into the resource's Synced condition.
func Connector(c managed.ExternalConnector) managed.ExternalConnector {
	return connector{next: c}
}

type connector struct{ next managed.ExternalConnector }

func (c connector) Connect(ctx context.Context, mg resource.Managed) (managed.ExternalClient, error) {
	e, err := c.next.Connect(ctx, mg)
	if err != nil {
		return nil, Bound(err)
	}
	return external{next: e}, nil
}

type external struct{ next managed.ExternalClient }

func (e external) Observe(ctx context.Context, mg resource.Managed) (managed.ExternalObservation, error) {
	o, err := e.next.Observe(ctx, mg)
	return o, Bound(err)
}

func (e external) Create(ctx context.Context, mg resource.Managed) (managed.ExternalCreation, error) {
	c, err := e.next.Create(ctx, mg)
	return c, Bound(err)
}

func (e external) Update(ctx context.Context, mg resource.Managed) (managed.ExternalUpdate, error) {
	u, err := e.next.Update(ctx, mg)
	return u, Bound(err)
}

func (e external) Delete(ctx context.Context, mg resource.Managed) (managed.ExternalDelete, error) {
	d, err := e.next.Delete(ctx, mg)
	return d, Bound(err)
}

func (e external) Disconnect(ctx context.Context) error { return Bound(e.next.Disconnect(ctx)) }
