package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strings"
)

// runner runs the system tools the lab is built with (ip, nft, tc). Shelling
// out keeps every step reproducible by hand: the debug log shows the exact
// command, and a failure names it with the tool's own stderr.
type runner struct {
	log *slog.Logger
}

// CommandError is a failed external command with what it printed.
type CommandError struct {
	Argv   []string
	Stderr string
	Err    error
}

func (e *CommandError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		return fmt.Sprintf("%s: %v", strings.Join(e.Argv, " "), e.Err)
	}
	return fmt.Sprintf("%s: %v: %s", strings.Join(e.Argv, " "), e.Err, msg)
}

func (e *CommandError) Unwrap() error { return e.Err }

// run executes argv and returns its stdout.
func (r runner) run(ctx context.Context, argv ...string) (string, error) {
	return r.runInput(ctx, nil, argv...)
}

// runInput executes argv with stdin and returns its stdout; nft reads whole
// rulesets this way so that a table is replaced atomically.
func (r runner) runInput(ctx context.Context, stdin io.Reader, argv ...string) (string, error) {
	r.log.Debug("run", "cmd", strings.Join(argv, " "))
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), &CommandError{Argv: argv, Stderr: errb.String(), Err: err}
	}
	return out.String(), nil
}

// runAll runs the commands in order and stops at the first failure.
func (r runner) runAll(ctx context.Context, cmds [][]string) error {
	for _, c := range cmds {
		if _, err := r.run(ctx, c...); err != nil {
			return err
		}
	}
	return nil
}

// stderrContains reports whether err is a CommandError whose stderr has s;
// used to accept "already gone" answers during teardown.
func stderrContains(err error, s string) bool {
	var ce *CommandError
	return errors.As(err, &ce) && strings.Contains(ce.Stderr, s)
}
