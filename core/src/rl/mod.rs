//! Reinforcement learning: the CartPole environment, small policies and the paper's
//! policy-gradient learners (RELAX, A2C, REINFORCE), all fixed-size and allocation-free.

pub mod cartpole;
