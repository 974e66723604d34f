import OverlayAgent
import ArgumentParser
import AsyncHTTPClient
print("grapevine")
