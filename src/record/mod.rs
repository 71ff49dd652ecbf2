//! Checks a filing record allows on its own, without the network (issue 3).
