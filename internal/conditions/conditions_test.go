package conditions

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/crossplane/crossplane-runtime/v2/pkg/reconciler/managed"
	"github.com/crossplane/crossplane-runtime/v2/pkg/resource"
)

func TestMessage(t *testing.T) {
	cases := map[string]struct {
		msg  string
		want string
	}{
		"short":        {"not enough free addresses", "not enough free addresses"},
		"at the limit": {strings.Repeat("a", MaxMessage), strings.Repeat("a", MaxMessage)},
		"one over":     {strings.Repeat("a", MaxMessage+1), strings.Repeat("a", MaxMessage) + "… (1 more bytes not shown)"},
		"a pool-exhausted list": {
			"not enough free addresses in [" + strings.Repeat("2001:db8::10-2001:db8::20,", 2000) + "]: 1 requested",
			"not enough free addresses in [" + strings.Repeat("2001:db8::10-2001:db8::20,", 2000)[:MaxMessage-len("not enough free addresses in [")] + "… (47948 more bytes not shown)",
		},
		// "é" is two bytes: a cut between them would leave invalid UTF-8,
		// which the API server refuses too.
		"multi-byte rune across the limit": {strings.Repeat("a", MaxMessage-1) + "é" + "tail", strings.Repeat("a", MaxMessage-1) + "… (6 more bytes not shown)"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := Message(tc.msg)
			if got != tc.want {
				t.Errorf("Message(%d bytes) = %q…, want %q…", len(tc.msg), head(got), head(tc.want))
			}
			if !utf8.ValidString(got) || len(got) > 32768 {
				t.Errorf("%d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
			}
		})
	}
}

func head(s string) string { return s[max(0, len(s)-60):] }

var errHuge = errors.New(strings.Repeat("<html>", 10000))

type hugeClient struct{}

func (hugeClient) Connect(context.Context, resource.Managed) (managed.ExternalClient, error) {
	return hugeClient{}, nil
}

func (hugeClient) Observe(context.Context, resource.Managed) (managed.ExternalObservation, error) {
	return managed.ExternalObservation{}, errHuge
}

func (hugeClient) Create(context.Context, resource.Managed) (managed.ExternalCreation, error) {
	return managed.ExternalCreation{}, errHuge
}

func (hugeClient) Update(context.Context, resource.Managed) (managed.ExternalUpdate, error) {
	return managed.ExternalUpdate{}, errHuge
}

func (hugeClient) Delete(context.Context, resource.Managed) (managed.ExternalDelete, error) {
	return managed.ExternalDelete{}, errHuge
}

func (hugeClient) Disconnect(context.Context) error { return nil }

func TestConnectorBoundsErrors(t *testing.T) {
	ctx := context.Background()
	e, err := Connector(hugeClient{}).Connect(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, errObserve := e.Observe(ctx, nil)
	_, errCreate := e.Create(ctx, nil)
	_, errUpdate := e.Update(ctx, nil)
	_, errDelete := e.Delete(ctx, nil)
	for name, err := range map[string]error{"Observe": errObserve, "Create": errCreate, "Update": errUpdate, "Delete": errDelete} {
		if !errors.Is(err, errHuge) {
			t.Errorf("%s: %v does not unwrap to the client's error", name, err)
		}
		if n := len(err.Error()); n > MaxMessage+64 {
			t.Errorf("%s: message of %d bytes", name, n)
		}
	}
	if err := e.Disconnect(ctx); err != nil {
		t.Errorf("Disconnect: %v", err)
	}
}
