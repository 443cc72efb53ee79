from function.func import new

__all__ = ["new"]
