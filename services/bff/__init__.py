"""Legacy stack BFF: one dashboard request fans out to the demo agent, sandbox and memory."""
