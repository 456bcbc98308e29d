package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The workload runs as child processes of this command (re-executed with
// roleEnv set), born in the workload's cgroup so that its CPU time is the
// cgroup's. Every exchange is one 100-byte request answered by a 100-byte
// reply.

const (
	roleEnv = "FLOWLENS_AGENTBENCH_ROLE"
	msgSize = 100
)

// runRole runs one workload role and exits.
func runRole(role string, args []string) error {
	switch role {
	case "server":
		return serve()
	case "short":
		if len(args) != 2 {
			return errors.New("short ADDR RATE")
		}
		rate, err := strconv.Atoi(args[1])
		if err != nil {
			return err
		}
		return shortClients(args[0], rate)
	case "long":
		if len(args) != 3 {
			return errors.New("long ADDR CONNS PERIOD")
		}
		n, err := strconv.Atoi(args[1])
		if err != nil {
			return err
		}
		period, err := time.ParseDuration(args[2])
		if err != nil {
			return err
		}
		return longClients(args[0], n, period)
	}
	return fmt.Errorf("unknown role %q", role)
}

// serve answers every request of every connection until the process is
// killed. It prints its address first.
func serve() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			buf := make([]byte, msgSize)
			for {
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				if _, err := c.Write(buf); err != nil {
					return
				}
			}
		}()
	}
}

// exchange sends one request and reads its reply.
func exchange(c net.Conn, buf []byte) error {
	if _, err := c.Write(buf); err != nil {
		return err
	}
	_, err := io.ReadFull(c, buf)
	return err
}

// shortClients opens rate connections per second (one exchange each,
// then close) until stdin closes, and prints how many it made and how
// many failed.
func shortClients(addr string, rate int) error {
	var made, failed atomic.Int64
	tokens := make(chan struct{}, rate)
	stop := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(stop) }()
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, msgSize)
			for range tokens {
				c, err := net.Dial("tcp", addr)
				if err == nil {
					err = exchange(c, buf)
					c.Close()
				}
				if err != nil {
					failed.Add(1)
					continue
				}
				made.Add(1)
			}
		}()
	}
	// Tokens every 10 ms keep the rate smooth.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	start, sent := time.Now(), 0
loop:
	for {
		select {
		case <-stop:
			break loop
		case now := <-tick.C:
			due := int(now.Sub(start).Seconds() * float64(rate))
			for ; sent < due; sent++ {
				select {
				case tokens <- struct{}{}:
				default: // the clients are behind: skip rather than burst
				}
			}
		}
	}
	close(tokens)
	wg.Wait()
	fmt.Printf("connections %d failed %d\n", made.Load(), failed.Load())
	return nil
}

// longClients opens n connections, then makes one exchange on each every
// period (spread evenly over the period) until stdin closes. It prints
// "connected" once all are open, and the exchange count at the end.
func longClients(addr string, n int, period time.Duration) error {
	conns := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		conns = append(conns, c)
	}
	fmt.Println("connected")
	stop := make(chan struct{})
	go func() { io.Copy(io.Discard, bufio.NewReader(os.Stdin)); close(stop) }()
	var exchanges, failed atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			buf := make([]byte, msgSize)
			time.Sleep(rand.N(period)) // spread the connections over the period
			t := time.NewTicker(period)
			defer t.Stop()
			for {
				if err := exchange(c, buf); err != nil {
					failed.Add(1)
					return
				}
				exchanges.Add(1)
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("exchanges %d failed %d\n", exchanges.Load(), failed.Load())
	return nil
}
