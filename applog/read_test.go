package applog

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestReadKeepsOrderAcrossChunksAndCountsLines(t *testing.T) {
	var b strings.Builder
	const n = 200000 // several 4 MiB chunks
	for i := range n {
		if i == 150000 {
			b.WriteString("{\"timestamp\":\"2999-01-01T00:00:00Z\"}\n") // refused: future
			continue
		}
		b.WriteString(`{"level":"INFO","seq":"`)
		b.WriteString(strings.Repeat("x", 3))
		b.WriteString("\"}\n")
	}
	var sum Summary
	got := 0
	err := Read(context.Background(), strings.NewReader(b.String()), ReadOptions{Options: Options{IngestionMs: 1}, Workers: 3}, &sum, func(bt *Batch) error {
		got += bt.Len()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != n-1 || sum.Events != n-1 || sum.BadLines != 1 || sum.Errors[0].Line != 150001 || sum.Bytes != int64(b.Len()) {
		t.Fatalf("events %d/%d, bad %d %v, bytes %d", got, sum.Events, sum.BadLines, sum.Errors, sum.Bytes)
	}
}

func TestReadRefusesLineBeyondChunk(t *testing.T) {
	body := "first\n" + strings.Repeat("y", chunkBytes+10) + "\nlast\n"
	var sum Summary
	var msgs []string
	err := Read(context.Background(), strings.NewReader(body), ReadOptions{Options: Options{IngestionMs: 1, MaxLineBytes: 1000}}, &sum, func(bt *Batch) error {
		for i := range bt.Len() {
			msgs = append(msgs, string(bt.Message(i)))
		}
		return nil
	})
	if err != nil || strings.Join(msgs, ",") != "first,last" || sum.BadLines != 1 || sum.Errors[0].Line != 2 {
		t.Fatalf("err %v, messages %v, bad %d %v", err, msgs, sum.BadLines, sum.Errors)
	}
}

func TestReadStopsAtWriteError(t *testing.T) {
	body := strings.Repeat("line of text\n", 1<<20) // several chunks
	boom := errors.New("boom")
	var sum Summary
	calls := 0
	err := Read(context.Background(), strings.NewReader(body), ReadOptions{Options: Options{IngestionMs: 1}}, &sum, func(*Batch) error {
		calls++
		return boom
	})
	if !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("err %v after %d writes", err, calls)
	}
}
