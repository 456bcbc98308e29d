package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/flowlens/flowlens/flowlog/source"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/diagnose"
	"github.com/flowlens/flowlens/diagnose/awsconfig"
	"github.com/flowlens/flowlens/diagnose/logfiles"
)

// awsConfigFlags are the flags that load an exported AWS configuration.
type awsConfigFlags struct {
	dir      string
	maxBytes int64
	maxFiles int
}

func (a *awsConfigFlags) register(cmd *cobra.Command, required bool) {
	f := cmd.Flags()
	f.StringVar(&a.dir, "aws-config", "", `directory of unmodified AWS CLI JSON outputs: aws ec2 describe-security-groups,
describe-network-acls, describe-route-tables, describe-network-interfaces, describe-subnets,
describe-vpcs; optionally describe-managed-prefix-lists (with each list's entries from
get-managed-prefix-list-entries saved as {"PrefixListId": "pl-...", "Entries": [...]}),
describe-vpc-peering-connections, describe-internet-gateways, describe-nat-gateways.
Files are recognised by their top-level key, not their name`)
	f.Int64Var(&a.maxBytes, "aws-config-max-file-bytes", awsconfig.DefaultLimits.MaxFileBytes, "refuse a configuration file larger than this")
	f.IntVar(&a.maxFiles, "aws-config-max-files", awsconfig.DefaultLimits.MaxFiles, "refuse a configuration directory with more files than this")
	if required {
		cmd.MarkFlagRequired("aws-config")
	}
}

func (a *awsConfigFlags) limits() awsconfig.Limits {
	return awsconfig.Limits{MaxFileBytes: a.maxBytes, MaxFiles: a.maxFiles}
}

func (a *awsConfigFlags) load() (*diagnose.Model, error) {
	cfg, err := awsconfig.Load(a.dir, a.limits())
	if err != nil {
		return nil, err
	}
	return diagnose.Compile(cfg), nil
}

func newDiagnoseCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "diagnose",
		Short: "Explain blocked traffic from an exported AWS network configuration",
		Long: `Explain why traffic is blocked, from the AWS network configuration exported with the AWS CLI
(security groups, network ACLs, route tables, interfaces, subnets, VPCs, ...):

  path     one request and its return traffic, hop by hop, with Reachability Analyzer's codes
  rejects  every REJECT record of flow-log files or of a log group, grouped by cause, with the fix`,
	}
	cmd.AddCommand(newDiagnosePathCmd(), newDiagnoseRejectsCmd(g))
	return cmd
}

func newDiagnosePathCmd() *cobra.Command {
	var (
		ac     awsConfigFlags
		pp     diagnose.PathParams
		output string
	)
	cmd := &cobra.Command{
		Use:   "path --aws-config DIR --src IP --dst IP --protocol P [--dst-port N] [--src-port N]",
		Short: "Explain whether a request and its reply get through, and what blocks them",
		Long: `Evaluate one request from --src to --dst and its return traffic against the exported
configuration, in path order: the source interface's security groups (egress), the source
subnet's network ACL (egress), the source route table, the destination subnet's network ACL
(ingress), the destination's security groups (ingress); then the return path: the destination
network ACL (egress), the destination subnet's route back, the source network ACL (ingress).
Every block is reported, not only the first, with Reachability Analyzer's explanation code,
the component and the change that fixes it.

Security groups are stateful (replies pass); network ACLs are not: without --src-port the
reply is assumed to go to any port of the Linux ephemeral range 32768-60999, and a network ACL
that denies any of them is reported. Traffic inside one subnet does not pass its network ACL.
An address that belongs to no interface of the export is an external end (internet, on
premises): only the other end is evaluated. For ICMP the request is an echo request unless
--icmp-type/--icmp-code say otherwise, and the echo reply must pass the network ACLs back.
--dst-port is ignored for protocols without ports (ICMP, GRE 47, ESP 50, ...).

A security-group rule naming a prefix list whose entries the export lacks (AWS-managed lists
such as S3's) makes the verdict undecidable for addresses the list might cover: reachable is
false, undecidable true, with code UNKNOWN_RESOURCE on the prefix list.

Exit status 0 whatever the verdict; read "reachable".`,
		Example: `  flowlens diagnose path --aws-config ./aws --src 10.0.2.20 --dst 10.0.3.30 --protocol tcp --dst-port 5432
  flowlens diagnose path --aws-config ./aws --src 203.0.113.5 --dst 10.0.1.5 --protocol tcp --dst-port 22 --output json
  flowlens diagnose path --aws-config ./aws --src 10.0.2.20 --dst 10.0.1.10 --protocol icmp`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("--output %q: want text or json", output)
			}
			q, err := pp.Query("--")
			if err != nil {
				return err
			}
			m, err := ac.load()
			if err != nil {
				return err
			}
			res, err := m.Analyze(q)
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			return printPath(cmd.OutOrStdout(), res)
		},
	}
	ac.register(cmd, true)
	f := cmd.Flags()
	f.StringVar(&pp.Src, "src", "", "source IP address (the client)")
	f.StringVar(&pp.Dst, "dst", "", "destination IP address (the server)")
	f.StringVar(&pp.Protocol, "protocol", "", "tcp, udp, icmp, icmpv6, -1 (all traffic) or an IP protocol number (47 GRE, 50 ESP, ...)")
	f.IntVar(&pp.DstPort, "dst-port", -1, "destination port (required for tcp and udp)")
	f.IntVar(&pp.SrcPort, "src-port", -1, "source port of the client; default: any of the ephemeral range 32768-60999")
	f.IntVar(&pp.ICMPType, "icmp-type", -1, "ICMP type of the request; default 8 (echo request; 128 for ICMPv6)")
	f.IntVar(&pp.ICMPCode, "icmp-code", -1, "ICMP code of the request; default 0")
	f.StringVarP(&output, "output", "o", "text", "text or json")
	cmd.MarkFlagRequired("src")
	cmd.MarkFlagRequired("dst")
	cmd.MarkFlagRequired("protocol")
	return cmd
}

func printPath(w io.Writer, res *diagnose.Result) error {
	verdict := "reachable"
	switch {
	case res.Undecidable:
		verdict = "undecidable (a prefix list's entries are missing from the export)"
	case !res.Reachable:
		verdict = "NOT reachable"
	}
	fmt.Fprintf(w, "%s\n\n", verdict)
	if len(res.Explanations) > 0 {
		fmt.Fprintln(w, "Explanations:")
		for i, e := range res.Explanations {
			dir := ""
			if e.Direction != "" {
				dir = " " + e.Direction
			}
			fmt.Fprintf(w, "  %d. %s %s%s (%s path)\n     %s\n", i+1, e.Code, e.ComponentID, dir, e.Leg, e.Message)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "Path:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  LEG\tCOMPONENT\tID\tDIRECTION\tVERDICT\tDETAIL")
	for _, h := range res.Path {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", h.Leg, h.Component, h.ID, h.Direction, h.Verdict, h.Detail)
	}
	return tw.Flush()
}

func newDiagnoseRejectsCmd(g *globals) *cobra.Command {
	var (
		ac         awsConfigFlags
		files      []string
		group      string
		since      time.Duration
		start, end string
		output     string
		workers    int
		maxGz      int64
	)
	cmd := &cobra.Command{
		Use:   "rejects (--aws-config DIR --files PATH... | [--aws-config DIR] --group G [--since D | --start T --end T])",
		Short: "Explain every REJECT record of flow logs, grouped by cause",
		Long: `Join every REJECT record to the exported configuration by interface id and addresses, pair
it with its request or reply, explain it and group the records by cause.

A REJECT whose reverse flow (same addresses and ports swapped, same protocol) was ACCEPTed is a
rejected reply: a network ACL on the return path (security groups are stateful, so never
them). Any other REJECT is a request, explained by the security groups and network ACL on the
side of the interface that logged it. A record counts under the first block it meets in the
order packets meet them. Causes are sorted by flows (distinct srcaddr, dstaddr, dstport,
protocol), then code, then component. Codes besides Reachability Analyzer's:

  UNKNOWN_ADDRESS          an address of no interface in the export (mostly internet scans)
  UNKNOWN_INTERFACE        the logging interface is not in the export (created or deleted since)
  ALLOWED_BY_CONFIGURATION the configuration allows it now (the export is newer than the logs)

--files reads local files or s3:// objects (text or gzip, default or custom format with a
header line) and needs --aws-config.

--group diagnoses a log group stored on the server (--server, --token):
  without --aws-config  the server does it with the configuration it was started with
                        (flowlens server --aws-config DIR), through GET /api/v1/diagnose/rejects;
                        only the causes travel
  with --aws-config     this command does it with the local export (say, one newer than the
                        server's), reading the group's REJECT and ACCEPT tuples through the
                        query API (POST /api/v1/query)
Both read the same aggregated queries (at most 10,000 distinct tuples each; the output says
"truncated" beyond) and print the same report for the same records and configuration.`,
		Example: `  flowlens diagnose rejects --aws-config ./aws --files ./AWSLogs/
  flowlens diagnose rejects --group prod-vpc --since 24h
  flowlens diagnose rejects --aws-config ./aws --group prod-vpc --since 24h --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("--output %q: want text or json", output)
			}
			if (len(files) == 0) == (group == "") {
				return errors.New("give either --files or --group")
			}
			var rep *diagnose.Report
			var err error
			if len(files) > 0 {
				if ac.dir == "" {
					return errors.New("--files needs --aws-config")
				}
				rep, err = rejectsFromFiles(cmd, &ac, files, workers, maxGz)
			} else {
				rep, err = rejectsFromGroup(cmd, g, &ac, group, since, start, end, workers)
			}
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return printRejects(cmd.OutOrStdout(), rep)
		},
	}
	ac.register(cmd, false)
	f := cmd.Flags()
	f.StringSliceVar(&files, "files", nil, "flow-log files, directories or s3:// prefixes")
	f.StringVar(&group, "group", "", "log group on the server (--server, --token)")
	f.DurationVar(&since, "since", time.Hour, "with --group: the last D of records")
	f.StringVar(&start, "start", "", "with --group: start of the range (RFC 3339), instead of --since")
	f.StringVar(&end, "end", "", "with --group: end of the range (RFC 3339), default now")
	f.IntVar(&workers, "workers", 0, "goroutines that read (one file each) and parse the --files, and explain the rejected tuples; default: the number of CPUs")
	f.Int64Var(&maxGz, "max-decompressed-bytes", 64<<30, "refuse a gzip file that expands to more than this")
	f.StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

// rejectsFromFiles reads flow-log files with the configuration of --aws-config.
func rejectsFromFiles(cmd *cobra.Command, ac *awsConfigFlags, files []string, workers int, maxGz int64) (*diagnose.Report, error) {
	m, err := ac.load()
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	inputs, err := source.ExpandPaths(cmd.Context(), files, source.SourceOptions{})
	if err != nil {
		return nil, err
	}
	grouper, st, err := logfiles.Read(cmd.Context(), inputs, m, logfiles.Options{Workers: workers, MaxDecompressedBytes: maxGz})
	if err != nil {
		return nil, err
	}
	rep := &diagnose.Report{Records: st.Records, Rejects: st.Rejects, BadLines: st.BadLines}
	if rep.Causes, err = grouper.Causes(workers); err != nil {
		return nil, err
	}
	if rep.Causes == nil {
		rep.Causes = []diagnose.Cause{}
	}
	rep.Seconds = time.Since(t0).Seconds()
	return rep, nil
}

func printRejects(w io.Writer, rep *diagnose.Report) error {
	fmt.Fprintf(w, "%d records, %d REJECT, %d causes (%.1fs)\n", rep.Records, rep.Rejects, len(rep.Causes), rep.Seconds)
	if rep.BadLines > 0 {
		fmt.Fprintf(w, "%d lines skipped (unparsable, NODATA or SKIPDATA)\n", rep.BadLines)
	}
	if rep.Truncated {
		fmt.Fprintln(w, "warning: the server returned its row limit; counts cover part of the range")
	}
	for i, c := range rep.Causes {
		dir := ""
		if c.Direction != "" {
			dir = " " + c.Direction
		}
		fmt.Fprintf(w, "\n%d. %s %s%s: %d flows, %d records\n   fix: %s\n", i+1, c.Code, c.ComponentID, dir, c.Flows, c.Records, c.Fix)
		for _, e := range c.Examples {
			kind := "request"
			if e.Reply {
				kind = "reply"
			}
			fmt.Fprintf(w, "   e.g. %s %s:%d -> %s:%d %s (%s, %d records)\n", e.InterfaceID, e.SrcAddr, e.SrcPort, e.DstAddr, e.DstPort,
				diagnose.ProtocolName(e.Protocol), kind, e.Records)
		}
	}
	return nil
}
