package localplane

import (
	"bytes"
	"fmt"
	"os"
	"syscall"
)

// A Replica is one of several provider processes electing a leader, which
// a test may kill and start again as a kubelet restarts a crashed pod.
type Replica struct {
	p    *Plane
	name string
	args []string
	runs int
	cur  *proc
}

// StartReplica runs bin/provider with leader election on (its Lease in the
// default namespace) and extra flags, logging to <Dir>/<name>-<run>.log.
func (p *Plane) StartReplica(name string, extra ...string) (*Replica, error) {
	r := &Replica{p: p, name: name, args: append([]string{"--leader-election=true", "--leader-election-namespace=default"}, extra...)}
	return r, r.Start()
}

// Start runs the replica again once it has ended (killed, or exited on its
// own, as a provider that loses its Lease does).
func (r *Replica) Start() error {
	if r.cur != nil && !r.Ended() {
		return fmt.Errorf("%s is still running", r.name)
	}
	r.runs++
	pr, err := r.p.startProviderAs(fmt.Sprintf("%s-%d", r.name, r.runs), r.args...)
	if err != nil {
		return err
	}
	r.cur = pr
	return nil
}

// Ended reports whether the replica's current process has ended.
func (r *Replica) Ended() bool {
	_, ended := r.cur.exited()
	return ended
}

// Kill sends SIGKILL to the replica's process group and waits for it to
// end: no shutdown runs and the Lease is not handed over, as when a node
// dies.
func (r *Replica) Kill() {
	if r.Ended() {
		return
	}
	_ = syscall.Kill(-r.cur.cmd.Process.Pid, syscall.SIGKILL)
	err := <-r.cur.done
	r.cur.done <- err
}

// Runs is how many times the replica was started.
func (r *Replica) Runs() int { return r.runs }

// Leads reports whether the replica's current process has won the leader
// election, as its log says (the Lease names a random identity, not the
// replica).
func (r *Replica) Leads() bool {
	if r.Ended() {
		return false
	}
	b, err := os.ReadFile(r.cur.log.Name())
	return err == nil && bytes.Contains(b, []byte("Successfully acquired lease"))
}
