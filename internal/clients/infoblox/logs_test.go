package infoblox

import (
	"fmt"
	"log"
	"strings"
	"sync"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/crossplane/crossplane-runtime/v2/pkg/logging"
)

// recorder is a logging.Logger that keeps its debug lines.
type recorder struct {
	mu    *sync.Mutex
	lines *[]string
	kv    []any
}

func newRecorder() recorder { return recorder{mu: &sync.Mutex{}, lines: &[]string{}} }

func (r recorder) Info(msg string, kv ...any) { r.add("info", msg, kv) }

func (r recorder) Debug(msg string, kv ...any) { r.add("debug", msg, kv) }

func (r recorder) add(level, msg string, kv []any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.lines = append(*r.lines, fmt.Sprintf("%s %v %s", level, append(append([]any{}, r.kv...), kv...), msg))
}

func (r recorder) WithValues(kv ...any) logging.Logger {
	return recorder{mu: r.mu, lines: r.lines, kv: append(append([]any{}, r.kv...), kv...)}
}

func (r recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string{}, *r.lines...)
}

func TestRouteLibraryLogs(t *testing.T) {
	out, flags := log.Writer(), log.Flags()
	lout, lformat, llevel := logrus.StandardLogger().Out, logrus.StandardLogger().Formatter, logrus.GetLevel()
	t.Cleanup(func() {
		log.SetOutput(out)
		log.SetFlags(flags)
		logrus.SetOutput(lout)
		logrus.SetFormatter(lformat)
		logrus.SetLevel(llevel)
	})
	body := strings.Repeat("<html>", 2000)
	cases := map[string]struct {
		log  func()
		want string
	}{
		"a short line, as the client logs a failed request": {
			log:  func() { log.Printf("GetObject request error: '%s'\n", "connection refused") },
			want: "debug [library infoblox-go-client] GetObject request error: 'connection refused'",
		},
		"a whole response body, cut": {
			log:  func() { log.Printf("cannot unmarshall '%s', err: '%s'\n", body, "invalid character") },
			want: "debug [library infoblox-go-client] cannot unmarshall '" + body[:maxLogLine-len("cannot unmarshall '")] + "… (" + fmt.Sprint(len("cannot unmarshall '"+body+"', err: 'invalid character'")-maxLogLine) + " more bytes not shown)",
		},
		"logrus, at debug level too": {
			log:  func() { logrus.Debugf("Got the lock on Network View %s\n", "default") },
			want: `debug [library infoblox-go-client] level=debug msg="Got the lock on Network View default\n"`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := newRecorder()
			RouteLibraryLogs(r)
			tc.log()
			got := r.got()
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("logged %q\nwant %q", got, tc.want)
			}
		})
	}
}
