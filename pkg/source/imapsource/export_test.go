package imapsource

// SetBeforeClaim sets a hook that runs between the recovery's FETCH MODSEQ
// and its conditional STORE (tests of the race with a settlement).
func SetBeforeClaim(f func()) { beforeClaim = f }

// SetMarkHooks sets hooks that run before and after a cycle's conditional
// in-flight mark (tests of two cycles racing).
func SetMarkHooks(before, after func()) { beforeMark, afterMark = before, after }

// ClaimsLost is how many conditional marks of s the server refused.
func ClaimsLost(s *Source) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.claimsLost
}
