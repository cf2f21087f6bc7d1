"""The assessment service. Grades each case red / orange / blue from a versioned rule set; owns
grades and needs."""
