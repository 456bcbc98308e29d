package ebpf

// The BPF object and its Go bindings (sockops_bpfel.go, sockops_bpfel.o)
// are committed, so that building the agent needs no clang. Regenerate
// them after changing bpf/sockops.c (clang, llvm, libbpf-dev; and, after a
// kernel upgrade only, bpf/vmlinux.h with
// `bpftool btf dump file /sys/kernel/btf/vmlinux format c > bpf/vmlinux.h`):
//
//	go generate ./agent/ebpf/

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -mcpu=v3" -target bpfel -type event -type sock_state -type counters -type endpoints -type rtt_budget_state -type flow_key -type flow_agg -type latency sockops bpf/sockops.c -- -I./bpf
