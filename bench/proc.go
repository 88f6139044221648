package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// userHZ is the unit of /proc/PID/stat times: USER_HZ is 100 on every Linux ABI.
const userHZ = 100

// procCPU returns the CPU time (user + system, seconds) of process pid ("self" for this one).
func procCPU(pid string) (float64, error) {
	raw, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may hold spaces: fields start after the last ')'.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%s/stat: unexpected format", pid)
	}
	f := strings.Fields(string(raw[i+1:]))
	// After the name: state(3) ... utime(14) stime(15); f[0] is field 3.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%s/stat: too few fields", pid)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%s/stat: bad times", pid)
	}
	return float64(ut+st) / userHZ, nil
}

// procMem returns the resident set size and its high-water mark, in bytes.
func procMem(pid string) (rss, hwm uint64, err error) {
	raw, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v) // "123456 kB"
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue
		}
		if k == "VmRSS" {
			rss = n * 1024
		} else {
			hwm = n * 1024
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("/proc/%s/status: no VmRSS", pid)
	}
	return rss, hwm, nil
}

// machineCPU returns the CPU time (seconds, all cores) the machine has spent busy.
func machineCPU() (float64, error) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected format")
	}
	var busy uint64
	// user nice system idle iowait irq softirq steal: all but idle and iowait.
	for i, v := range f[1:9] {
		if i == 3 || i == 4 {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		busy += n
	}
	return float64(busy) / userHZ, nil
}

// udpDrops returns, for each UDP socket process pid holds, the datagrams the
// kernel dropped because its receive buffer was full (by socket inode).
func udpDrops(pid string) (map[string]uint64, error) {
	fds, err := os.ReadDir("/proc/" + pid + "/fd")
	if err != nil {
		return nil, err
	}
	mine := map[string]bool{}
	for _, fd := range fds {
		target, err := os.Readlink("/proc/" + pid + "/fd/" + fd.Name())
		if err == nil && strings.HasPrefix(target, "socket:[") {
			mine[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
		}
	}
	out := map[string]uint64{}
	for _, file := range []string{"udp", "udp6"} {
		raw, err := os.ReadFile("/proc/" + pid + "/net/" + file)
		if err != nil {
			continue // no IPv6, say
		}
		for _, line := range strings.Split(string(raw), "\n")[1:] {
			f := strings.Fields(line)
			// sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
			if len(f) < 13 || !mine[f[9]] {
				continue
			}
			if n, err := strconv.ParseUint(f[12], 10, 64); err == nil {
				out[f[9]] = n
			}
		}
	}
	return out, nil
}

// dropsSince sums the drops of every socket in now beyond what it had in before.
func dropsSince(before, now map[string]uint64) uint64 {
	var n uint64
	for inode, d := range now {
		if b := before[inode]; d > b {
			n += d - b
		}
	}
	return n
}
