// Package flowloggen writes realistic VPC Flow Log records for benchmarks,
// tests and the demo (never production code paths), and holds the example
// records of the AWS reference.
package flowloggen

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Header is the S3 header line of the default format (flowlog.Default's
// names; TestHeaderIsDefaultFormat keeps them in step without this package
// importing flowlog, whose tests use it).
const Header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"

// Reference are the example records of the AWS reference, default format:
// accepted and rejected traffic, NODATA, SKIPDATA, ICMP and IPv6
// (https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-records-examples.html).
var Reference = []string{
	"2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK",
	"2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK",
	"2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA",
	"2 123456789010 eni-11111111aaaaaaaaa - - - - - - - 1431280876 1431280934 - SKIPDATA",
	"2 123456789010 eni-1235b8ca123456789 203.0.113.12 172.31.16.139 0 0 1 4 336 1432917027 1432917142 ACCEPT OK",
	"2 123456789010 eni-1235b8ca123456789 172.31.16.139 203.0.113.12 0 0 1 4 336 1432917094 1432917142 REJECT OK",
	"2 123456789010 eni-1235b8ca123456789 2001:db8:1234:a100:8d6e:3477:df66:f105 2001:db8:1234:a102:3304:8879:34cf:4071 34892 22 6 54 8855 1477913708 1477913820 ACCEPT OK",
}

// ReferenceText is the Reference records, one per line, after the header
// line when header is set.
func ReferenceText(header bool) string {
	var b strings.Builder
	if header {
		b.WriteString(Header + "\n")
	}
	for _, r := range Reference {
		b.WriteString(r + "\n")
	}
	return b.String()
}

// GenConfig shapes generated default-format records (benchmarks, tests,
// the demo).
type GenConfig struct {
	Records   int
	Seed      uint64
	Start     int64 // Unix seconds of the first record; default 2026-11-01
	Hosts     int   // internal addresses; default 3,000
	Interface int   // network interfaces; default 400
	Header    bool  // write the S3 header line first
}

// Generate writes cfg.Records realistic default-format records: a few
// thousand internal addresses talking to a few service ports and to public
// clients, ephemeral client ports, heavy-tailed packet counts, about 5%
// REJECT (mostly probes of closed ports), 1% NODATA and a few SKIPDATA
// lines, times advancing through the file as AWS writes them.
func Generate(w io.Writer, cfg GenConfig) error {
	if cfg.Start == 0 {
		cfg.Start = 1793491200 // 2026-11-01T00:00:00Z
	}
	if cfg.Hosts <= 0 {
		cfg.Hosts = 3000
	}
	if cfg.Interface <= 0 {
		cfg.Interface = 400
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15))
	bw := bufio.NewWriterSize(w, 1<<20)
	if cfg.Header {
		bw.WriteString(Header + "\n")
	}
	hosts := make([]string, cfg.Hosts)
	for i := range hosts {
		hosts[i] = "10." + strconv.Itoa(i/4096) + "." + strconv.Itoa(i/256%16) + "." + strconv.Itoa(i%256+1)
	}
	public := make([]string, 500)
	for i := range public {
		public[i] = strconv.Itoa(rng.IntN(200)+11) + "." + strconv.Itoa(rng.IntN(256)) + "." + strconv.Itoa(rng.IntN(256)) + "." + strconv.Itoa(rng.IntN(254)+1)
	}
	enis := make([]string, cfg.Interface)
	for i := range enis {
		enis[i] = fmt.Sprintf("eni-%x%016x", rng.IntN(16), rng.Uint64())
	}
	accounts := []string{"123456789010", "210987654321", "555566667777"}
	services := []int{443, 443, 443, 80, 22, 5432, 3306, 6379, 53, 8080, 9092, 123}
	closed := []int{23, 445, 3389, 1433, 25, 8443, 111}
	var buf []byte
	for i := range cfg.Records {
		t := cfg.Start + int64(i)*3600/int64(max(cfg.Records, 1)) // an hour of logs
		start := t - int64(rng.IntN(60))
		end := start + 60
		eni := rng.IntN(len(enis))
		buf = append(buf[:0], "2 "...)
		buf = append(buf, accounts[eni%len(accounts)]...)
		buf = append(buf, ' ')
		buf = append(buf, enis[eni]...)
		switch r := rng.IntN(1000); {
		case r < 10: // no traffic in the interval
			buf = append(buf, " - - - - - - - "...)
			buf = strconv.AppendInt(buf, start, 10)
			buf = append(buf, ' ')
			buf = strconv.AppendInt(buf, end, 10)
			if r == 0 {
				buf = append(buf, " - SKIPDATA\n"...)
			} else {
				buf = append(buf, " - NODATA\n"...)
			}
			bw.Write(buf)
			continue
		}
		var src, dst string
		var sport, dport, proto, pkts int
		action := "ACCEPT"
		switch r := rng.IntN(100); {
		case r < 5: // rejected probe from the internet
			src, dst = public[rng.IntN(len(public))], hosts[eni*cfg.Hosts/len(enis)]
			sport, dport, proto, pkts = 1024+rng.IntN(64000), closed[rng.IntN(len(closed))], 6, 1+rng.IntN(3)
			action = "REJECT"
		case r < 8: // ping
			src, dst = hosts[rng.IntN(cfg.Hosts)], hosts[rng.IntN(cfg.Hosts)]
			proto, pkts = 1, 1+rng.IntN(10)
		default:
			client, server := hosts[rng.IntN(cfg.Hosts)], hosts[rng.IntN(cfg.Hosts)]
			if r < 20 {
				client = public[rng.IntN(len(public))]
			}
			svc := services[rng.IntN(len(services))]
			proto = 6
			if svc == 53 || svc == 123 {
				proto = 17
			}
			eph := 32768 + rng.IntN(28232)
			pkts = 1 + int(rng.ExpFloat64()*rng.ExpFloat64()*40)
			if rng.IntN(2) == 0 {
				src, dst, sport, dport = client, server, eph, svc
			} else {
				src, dst, sport, dport = server, client, svc, eph
			}
		}
		buf = append(buf, ' ')
		buf = append(buf, src...)
		buf = append(buf, ' ')
		buf = append(buf, dst...)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, int64(sport), 10)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, int64(dport), 10)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, int64(proto), 10)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, int64(pkts), 10)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, int64(pkts*(40+rng.IntN(1460))), 10)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, start, 10)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, end, 10)
		buf = append(buf, ' ')
		buf = append(buf, action...)
		buf = append(buf, " OK\n"...)
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}
