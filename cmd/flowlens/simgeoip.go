package main

import (
	"fmt"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/geoip"
	"github.com/flowlens/flowlens/sim"
)

func newSimGeoIPCmd() *cobra.Command {
	var out, layout string
	cmd := &cobra.Command{
		Use:   "geoip",
		Short: "Write the MMDB that places the simulator's internet clients",
		Long: `Write a GeoIP database (MMDB, MaxMind layout with city and ASN fields in one file) covering
every city-network of the simulated internet: real cities, each served by its country's
national providers, local ISPs and the transit provider AS64500. Give the file to the server
as both --geoip-city and --geoip-asn, then run flowlens sim --internet-clients N.`,
		Example: `  flowlens sim geoip --out sim.mmdb
  flowlens server --data-dir ./data --geoip-city sim.mmdb --geoip-asn sim.mmdb
  flowlens sim --internet-clients 2000 --fault asn=64500,loss=0.05,after=5m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			plan := sim.InternetPlan()
			o := geoip.WriteOptions{Layout: geoip.Layout(layout)}
			if !slices.Contains(geoip.Layouts(), o.Layout) {
				return fmt.Errorf("--layout %q: want one of %v", layout, geoip.Layouts())
			}
			if err := geoip.Write(out, sim.GeoIPEntries(plan), o); err != nil {
				return err
			}
			asns, cities := map[uint32]bool{}, map[string]bool{}
			for _, cn := range plan {
				asns[cn.Info.ASN], cities[cn.Info.City+"|"+cn.Info.Country] = true, true
			}
			fmt.Fprintf(os.Stderr, "wrote %s: %d city-networks, %d cities, %d ASNs\n", out, len(plan), len(cities), len(asns))
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to write (required)")
	cmd.Flags().StringVar(&layout, "layout", "maxmind", "record layout: maxmind or ipinfo (city and ASN in one file), or a vendor product's (maxmind-city, maxmind-asn, ipinfo-location, ipinfo-asn, ...; the error lists all)")
	cmd.MarkFlagRequired("out")
	return cmd
}
