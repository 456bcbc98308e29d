package main

import (
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/insights"
	"github.com/flowlens/flowlens/topology"
)

func newTopologyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topology",
		Short: "Check, query and import the topology model",
	}
	cmd.AddCommand(newTopologyCheckCmd(), newTopologyLookupCmd(g), newTopologyImportCmd())
	return cmd
}

func newTopologyCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE...",
		Short: "Report every problem in topology files, with file, line and field",
		Long: `Check topology YAML files and report every problem found (not just the first):
syntax errors, unknown keys, missing or duplicate ids, unknown zone/region references,
bad CIDRs, overlapping subnets. Exits 1 when any file has a problem.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bad := 0
			for _, path := range args {
				problems := topology.Check(path)
				for _, p := range problems {
					fmt.Println(p.String())
				}
				if len(problems) == 0 {
					fmt.Printf("%s: ok\n", path)
				}
				bad += len(problems)
			}
			if bad > 0 {
				return fmt.Errorf("%d problem(s) found", bad)
			}
			return nil
		},
	}
}

func newTopologyLookupCmd(g *globals) *cobra.Command {
	var file string
	var output string
	cmd := &cobra.Command{
		Use:   "lookup IP...",
		Short: "Show where addresses sit in the topology",
		Long: `Resolve addresses to subnet, network, zone, region, service or internet, with a local
topology file (--topology) or, without one, the topology of the running server.`,
		Example: `  flowlens topology lookup --topology examples/topology.yaml 10.1.1.10 198.51.100.7 8.8.8.8`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			rows, err := lookup(cmd, g, file, args)
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSONTo(os.Stdout, rows)
			}
			sep := "\t"
			if output == "csv" {
				sep = ","
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, strings.Join([]string{"IP", "KIND", "RESOURCE", "SUBNET", "NETWORK", "ZONE", "REGION", "SERVICE", "HOST_GROUP"}, sep))
			for _, r := range rows {
				l := r.Location
				fmt.Fprintln(tw, strings.Join([]string{r.IP, l.Kind.String(), r.Resource, dash(l.Subnet), dash(l.Network),
					dash(l.Zone), dash(l.Region), dash(l.Service), dash(l.HostGroup)}, sep))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&file, "topology", "", "topology file (default: ask the server)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table, json or csv")
	return cmd
}

type lookupRow struct {
	IP       string            `json:"ip"`
	Location topology.Location `json:"location"`
	Resource string            `json:"resource"`
}

func lookup(cmd *cobra.Command, g *globals, file string, args []string) ([]lookupRow, error) {
	var rows []lookupRow
	if file == "" {
		err := g.client().Get(cmd.Context(), "/api/v1/topology/lookup", url.Values{"ip": args}, &rows)
		return rows, err
	}
	topo, err := topology.Load(file)
	if err != nil {
		return nil, err
	}
	for _, a := range args {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address", a)
		}
		loc := topo.Lookup(ip.Unmap())
		rows = append(rows, lookupRow{IP: ip.String(), Location: loc, Resource: insights.RemoteResource(loc)})
	}
	return rows, nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newTopologyImportCmd() *cobra.Command {
	var vpcs, subnets, ipRanges string
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Build a topology from AWS describe-vpcs / describe-subnets JSON and ip-ranges.json",
		Long: `Print a topology YAML built from the JSON output of
  aws ec2 describe-vpcs, aws ec2 describe-subnets
and AWS's published ip-ranges.json (services such as s3 and dynamodb). Any of the three may
be omitted. Review the output, then pass it to 'flowlens server --topology'.`,
		Example: `  aws ec2 describe-vpcs > vpcs.json; aws ec2 describe-subnets > subnets.json
  flowlens topology import --vpcs vpcs.json --subnets subnets.json --ip-ranges ip-ranges.json > topology.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			read := func(path string) ([]byte, error) {
				if path == "" {
					return nil, nil
				}
				return os.ReadFile(path)
			}
			v, err := read(vpcs)
			if err != nil {
				return err
			}
			s, err := read(subnets)
			if err != nil {
				return err
			}
			r, err := read(ipRanges)
			if err != nil {
				return err
			}
			if v == nil && s == nil && r == nil {
				return fmt.Errorf("give at least one of --vpcs, --subnets, --ip-ranges")
			}
			topo, err := topology.ImportAWS(v, s, r)
			if err != nil {
				return err
			}
			out, err := topo.MarshalYAML()
			if err != nil {
				return err
			}
			_, err = os.Stdout.Write(out)
			return err
		},
	}
	cmd.Flags().StringVar(&vpcs, "vpcs", "", "describe-vpcs JSON file")
	cmd.Flags().StringVar(&subnets, "subnets", "", "describe-subnets JSON file")
	cmd.Flags().StringVar(&ipRanges, "ip-ranges", "", "ip-ranges.json file")
	return cmd
}
