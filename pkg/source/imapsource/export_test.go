package imapsource

// SetBeforeClaim sets a hook that runs between the recovery's FETCH MODSEQ
// and its conditional STORE (tests of the race with a settlement).
func SetBeforeClaim(f func()) { beforeClaim = f }
