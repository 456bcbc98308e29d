package logquery

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

func TestScratchRun(t *testing.T) {
	st := openStore(t)
	insertRecords(t, st, "vpc", "testdata/examples.log")
	e := NewEngine(st.DB())
	for _, q := range []string{
		`fields @timestamp, @message`,
		`filter action="REJECT" | stats count(*) as n by srcAddr | sort n desc | limit 20`,
		`stats count(*) by bin(1d)`,
		`filter isIpv6InSubnet(srcAddr, "2001:db8:1234:a100::/56") | fields srcAddr`,
		`filter isIpv4InSubnet(srcAddr, "172.31.0.0/16") | fields srcAddr, dstPort`,
		`parse @message "* * * * *" as v, acct, eni, src, rest | fields src, rest`,
		`parse @message /(?<acct>\d{12}) (?<eni>eni-\S+)/ | stats count(*) by eni`,
		`fields srcAddr | dedup srcAddr`,
		`stats sum(bytes) as b, avg(packets), pct(bytes, 50), count_distinct(srcAddr), earliest(srcAddr), latest(action) by logStatus | sort logStatus`,
	} {
		res, err := e.Run(context.Background(), Request{Query: q, Groups: []string{"vpc"}, Start: time.Unix(0, 0), End: time.Unix(2e9, 0)})
		if err != nil {
			t.Errorf("%s: %v", q, err)
			continue
		}
		b, _ := json.Marshal(res)
		t.Logf("%s\n%s", q, b)
	}
}
