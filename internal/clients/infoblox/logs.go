package infoblox

import (
	"log"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/crossplane/crossplane-runtime/v2/pkg/logging"

	"github.com/provider-ipam/provider-ipam/internal/conditions"
)

// maxLogLine is the most bytes of one line of infoblox-go-client's own
// logging that reach the provider's log: the client logs whole WAPI
// response bodies when it cannot parse them.
const maxLogLine = 1024

// RouteLibraryLogs sends what infoblox-go-client logs itself, through the
// standard library's log package and through logrus, both process-wide, to
// l at debug level, each line cut to maxLogLine bytes. Left alone, both
// write unstructured lines to stderr, in between the provider's structured
// log, whatever its level. The errors they describe also reach the
// Reservation's conditions through this package's return values.
func RouteLibraryLogs(l logging.Logger) {
	w := lineWriter{log: l.WithValues("library", "infoblox-go-client")}
	log.SetFlags(0)
	log.SetOutput(w)
	logrus.SetOutput(w)
	logrus.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true, DisableColors: true})
	logrus.SetLevel(logrus.DebugLevel)
}

// lineWriter logs each Write, one entry of the library's logger, as one
// debug line.
type lineWriter struct{ log logging.Logger }

func (w lineWriter) Write(p []byte) (int, error) {
	if line := strings.TrimRight(string(p), "\n"); line != "" {
		w.log.Debug(conditions.Cut(line, maxLogLine))
	}
	return len(p), nil
}
