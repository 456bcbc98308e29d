package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/web"
)

func newUsersCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "users",
		Short: "Manage the web UI's users file",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "hash-password",
		Short: "Print a bcrypt hash of a password read from standard input, for --users-file",
		Long: `Read a password (the first line of standard input) and print its bcrypt hash, to put
in the web UI's users file, given to the server with --users-file:

  users:
    - name: alice
      password_hash: $2a$10$...

The password itself is never stored.`,
		Example: `  printf '%s\n' 'correct horse battery staple' | flowlens users hash-password
  flowlens users hash-password < password.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("read password: %w", err)
			}
			pw := strings.TrimRight(line, "\r\n")
			if pw == "" {
				return errors.New("no password on standard input")
			}
			h, err := web.HashPassword(pw)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(h))
			return nil
		},
	})
	return cmd
}
